"""Each mismatch gets a cause: the behaviour whose documented value the output refutes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conformance.cases import generate, inputs_for
from conformance.compare.checks import UNEXPLAINED, bn_checks, same_arithmetic
from conformance.compare.evidence import Evidence
from conformance.compare.load import Run
from conformance.oracle import batchnorm as bn

CASE = next(c for c in generate(["bn_momentum"]) if c.get("momentum") == 0.9)
RUN = Run(Path(), {"framework": "planted", "framework_version": "0"})
RECORD = {"implementation": "planted.BatchNorm", "op": "batchnorm", "case_id": CASE.id}


def _evidence(conv: bn.Conventions) -> Evidence:
    inputs = inputs_for(CASE)
    out = bn.sequence(inputs["train"], inputs["eval"], CASE.channel_axis, inputs["gamma"],
                      inputs["beta"], 0.9, 1e-3, conv)
    return Evidence(CASE, out, inputs)


def _checks(conv: bn.Conventions, documented: dict[str, str],
            measured: dict[str, str]) -> dict[str, tuple[str, str]]:
    rows = bn_checks(RUN, RECORD, _evidence(conv), {}, documented, measured,
                     "test")
    return {r["check"]: (r["status"], r["cause"]) for r in rows}


BASE = {"epsilon_default": "0.001", "momentum_default": "0.1"}


def test_a_documented_convention_the_output_refutes_is_the_cause() -> None:
    conv = bn.Conventions(running_variance_update="biased")
    got = _checks(conv, {**BASE, "running_variance_update": "unbiased"},
                  {**BASE, "running_variance_update": "biased"})
    assert got["running_var"] == ("MISMATCH", "running_variance_update")
    assert got["running_mean"] == ("PASS", "")


def test_a_mismatch_the_measured_conventions_do_not_reproduce_is_unexplained() -> None:
    ev = _evidence(bn.Conventions())
    ev.outputs["y_train"][0, 0] += 1e-3  # a planted arithmetic error
    rows = bn_checks(RUN, RECORD, ev, {}, BASE, BASE, "test")
    assert [r["cause"] for r in rows if r["check"] == "y_train"] == [UNEXPLAINED]


def test_float32_momentum_is_named() -> None:
    conv = bn.Conventions(momentum_precision="float32")
    got = _checks(conv, BASE, {**BASE, "momentum_precision": "float32"})
    assert got["running_mean"] == ("MISMATCH", "momentum_precision")


def test_no_check_without_a_known_default() -> None:
    case = next(c for c in generate(["bn_dtype"]) if c.dtype == "float64")
    inputs = inputs_for(case)
    ev = Evidence(case, {"y_train": np.zeros_like(inputs["train"])}, inputs)
    rec = {**RECORD, "case_id": case.id}
    assert bn_checks(RUN, rec, ev, {}, {}, {}, "test") == []


def test_same_value_is_float64_exact_unless_rounded_anyway() -> None:
    assert same_arithmetic("0.001", repr(1e-3 + 1e-19))
    assert not same_arithmetic("0.001", repr(float(np.float32(1e-3))))
    assert same_arithmetic("0.9", repr(float(np.float32(0.9))), float32=True)
