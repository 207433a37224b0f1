"""Epsilon is solved for (default and floor), statistics precision is read from errors."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.cases import generate, inputs_for
from conformance.cases.model import epsilon_of
from conformance.compare import bn_probes as probes
from conformance.compare.evidence import Evidence
from conformance.oracle import batchnorm as bn

PROBES = [c for c in generate(["bn_epsilon", "bn_variance"]) if c.dtype == "float64"]


def _evidence(conv: bn.Conventions, default: float, round_to: str | None = None
              ) -> list[Evidence]:
    out = []
    for case in PROBES:
        inputs = inputs_for(case)
        y = np.stack([bn.training_output(x, case.channel_axis, epsilon_of(case, default),
                                         inputs["gamma"], inputs["beta"], conv)
                      for x in inputs["train"]])
        if round_to:
            y = y.astype(round_to).astype(np.float64)
        out.append(Evidence(case, {"y_train": y}, inputs))
    return out


@pytest.mark.parametrize("floor", [3e-5, 1.001e-5])
def test_an_unusual_floor_is_solved_for(floor: float) -> None:
    ev = _evidence(bn.Conventions(epsilon_floor=floor), 1e-3)
    finding, value = probes.epsilon_floor(probes.read_epsilons(ev, "inside_sqrt", True,
                                                               "biased"))
    assert finding.actual == f"clamped_to:{floor:.4g}"
    assert value is not None and abs(value - floor) < 1e-9 * floor


def test_epsilon_as_given_and_the_default() -> None:
    readings = probes.read_epsilons(_evidence(bn.Conventions(), 4e-4), "inside_sqrt", True,
                                    "biased")
    assert probes.epsilon_floor(readings)[0].actual == "as_given"
    default = probes.epsilon_default(readings, "inside_sqrt")
    assert default.actual == "0.0004"
    assert default.exact is not None and abs(default.exact - 4e-4) < 1e-12


def test_a_float32_default_is_named_in_the_note() -> None:
    readings = probes.read_epsilons(_evidence(bn.Conventions(), float(np.float32(1e-3))),
                                    "inside_sqrt", True, "biased")
    assert "float32(0.001)" in probes.epsilon_default(readings, "inside_sqrt").note


def test_readings_under_the_wrong_formula_find_no_constant_floor() -> None:
    ev = _evidence(bn.Conventions(epsilon_placement="outside_sqrt"), 1e-3)
    finding, _ = probes.epsilon_floor(probes.read_epsilons(ev, "inside_sqrt", True, "biased"))
    assert finding.actual != "as_given"


def test_statistics_precision_from_the_size_of_the_error() -> None:
    ev = _evidence(bn.Conventions(), 1e-3)
    exact = probes.stats_precision(ev, ("float64",), "stats_precision_float64",
                                   bn.Conventions(), 1e-3)
    assert exact.actual == "float64"
    rounded = probes.stats_precision(_evidence(bn.Conventions(), 1e-3, "float32"),
                                     ("float64",), "stats_precision_float64",
                                     bn.Conventions(), 1e-3)
    assert rounded.actual in ("float32", "inconclusive")
    assert probes.stats_precision(ev, ("float16",), "stats_precision_float16",
                                  bn.Conventions(), 1e-3).actual == "not_measured"


def _half_evidence(stepwise: bool) -> list[Evidence]:
    out = []
    for case in generate(["bn_half"]):
        if case.dtype != "float16":
            continue
        inputs = inputs_for(case)
        x = inputs["train"][0]
        exact = bn.training_output(x, case.channel_axis, epsilon_of(case, 1e-3),
                                   inputs["gamma"], inputs["beta"], bn.Conventions())
        if stepwise:  # MXNet's order, every step rounded to float16
            mean, var, _ = bn.batch_moments(x, case.channel_axis)
            shape = [1] * x.ndim
            shape[case.channel_axis] = -1
            h = np.float16
            inv = (1 / np.sqrt(var + 1e-3)).astype(h).reshape(shape)
            centred = (x.astype(h) - mean.astype(h).reshape(shape)).astype(h)
            y = ((centred * inv).astype(h) * inputs["gamma"].astype(h).reshape(shape)).astype(h)
            y = (y + inputs["beta"].astype(h).reshape(shape)).astype(h)
        else:
            y = exact.astype(np.float16)
        out.append(Evidence(case, {"y_train": y.astype(np.float64)[None]}, inputs))
    return out


def test_output_precision_tells_one_rounding_from_many() -> None:
    once = probes.output_precision(_half_evidence(False), bn.Conventions(), 1e-3)
    assert once.actual == "float32", once.note
    many = probes.output_precision(_half_evidence(True), bn.Conventions(), 1e-3)
    assert many.actual == "input_dtype", many.note


def test_an_epsilon_rounded_to_float32_is_as_given_not_lowered() -> None:
    """A float32 epsilon attribute (ONNX Runtime) on float64 data: the solved epsilon sits
    just below the given one; that is epsilon_precision's finding, not a lowered floor."""
    given = 1e-8
    reading = probes.EpsilonReading("c", given, float(np.float32(given)), 1e-20)
    assert given - reading.effective > 3 * reading.noise  # would read as "lowered"
    assert probes.epsilon_floor([reading])[0].actual == "as_given"
    lowered = probes.EpsilonReading("c", given, 0.5 * given, 1e-20)
    assert probes.epsilon_floor([lowered])[0].actual == "inconclusive"
