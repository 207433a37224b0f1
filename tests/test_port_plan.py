"""Translation from measured conventions: momentum, epsilon, gamma, and what is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from port_helpers import numpy_runs  # tests/ is on sys.path (rootdir-relative)

from conformance.port.plan import Measured, measure, training_notes, translate


def measured(**values: str) -> Measured:
    return Measured("fw", "fw.BN", {"fw.BN": values})


TORCH = measured(momentum_convention="weight_on_new", momentum_default="0.1",
                 epsilon_default="1e-05", running_variance_update="unbiased",
                 gamma_applied="yes", epsilon_placement="inside_sqrt")
KERAS = measured(momentum_convention="weight_on_old", momentum_default="0.99",
                 epsilon_default="0.001", running_variance_update="biased",
                 gamma_applied="yes", epsilon_placement="inside_sqrt")


def test_opposite_conventions_take_the_complement_and_epsilon_is_explicit() -> None:
    t = translate(TORCH, KERAS, "default", "default")
    assert t.momentum == 0.9 and t.epsilon == 1e-05 and not t.notes and not t.gamma_one
    assert translate(KERAS, TORCH, 0.99, 0.002).momentum == 0.01
    assert translate(KERAS, KERAS, 0.9, "default").momentum == 0.9


def test_a_cumulative_average_or_an_unmeasured_convention_is_not_translated() -> None:
    t = translate(TORCH, KERAS, "none", "default")
    assert t.momentum is None and "cumulative" in t.notes[0]
    t = translate(measured(epsilon_default="1e-05", momentum_convention="inconclusive"),
                  KERAS, 0.1, "default")
    assert t.momentum is None and "not measured" in t.notes[0]


def test_documented_defaults_are_used_only_with_a_note() -> None:
    src = Measured("fw", "fw.BN", {"fw.BN": {"momentum_convention": "weight_on_new",
                                               "epsilon_default": "inconclusive"}},
                   {"epsilon_default": "0.002", "momentum_default": "0.2"})
    t = translate(src, KERAS, "default", "default")
    assert t.epsilon == 0.002 and t.momentum == 0.8
    assert any("documented" in n for n in t.notes), t.notes
    with pytest.raises(ValueError, match="neither measured nor documented"):
        translate(Measured("fw", "x", {"x": {}}), KERAS, 0.1, "default")


def test_epsilon_floors_and_gamma() -> None:
    floored = measured(momentum_convention="weight_on_old", epsilon_default="0.001",
                       epsilon_effective="clamped_to:1.001e-05", gamma_applied="no")
    t = translate(floored, TORCH, 0.9, 1e-6)
    assert t.epsilon == 1.001e-05 and t.gamma_one
    assert any("raises epsilon" in n for n in t.notes)
    t = translate(TORCH, floored, 0.1, 1e-6)
    assert any("cannot be reproduced" in n for n in t.notes)


def test_training_notes_name_the_variance_estimators() -> None:
    notes = training_notes(TORCH, KERAS, "fw.BN", "fw.BN")
    assert len(notes) == 1 and "unbiased" in notes[0] and "biased" in notes[0]
    assert training_notes(KERAS, KERAS, "fw.BN", "fw.BN") == []


def test_one_pass_variance_is_named_also_against_the_oracle() -> None:
    one_pass = measured(variance_computation="one_pass")
    oracle = Measured("numpy", "conformance.oracle.batchnorm.sequence", one_pass.rows)
    assert any("one_pass" in n for n in training_notes(one_pass, oracle, "fw.BN", "fw.BN"))


def test_measure_reads_the_suite_inference_of_the_rows(tmp_path: Path) -> None:
    runs, cases = numpy_runs(tmp_path)
    got = measure(runs, cases, {("numpy", "conformance.oracle.batchnorm.sequence")})
    m = got[("numpy", "conformance.oracle.batchnorm.sequence")]
    assert m.value("momentum_convention") == "weight_on_new"
    assert m.number("epsilon_default") == (1e-05, "measured")
    assert measure(runs, cases, {("torch", "torch.nn.BatchNorm2d")}) == {}
