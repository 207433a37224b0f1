"""Every pair of candidate values of every behaviour is separated by some default case.

For each behaviour the oracle can express and each pair of its values, the
default case set (``generate()``) must hold a decisive (not informational) case
whose oracle outputs under the two values differ by more than that case's own
per-channel tolerance (``tolerance_for``), in both directions. Otherwise the
suite could not tell the two values apart, however the inference is written.

The table is data: a row names a behaviour, the op whose cases can show it,
and for each value how it changes the oracle call.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pytest

from conformance.adapters.numpy_ref import DEFAULT_EPSILON, DEFAULT_MOMENTUM
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case, Tolerance, epsilon_of, momentum_of
from conformance.cases.tolerances import tolerance_for
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do


@dataclass(frozen=True)
class Call:
    """What one candidate value makes the oracle compute: batch-norm conventions, or
    dropout's (training scale, inference output, rate semantics)."""

    conv: bn.Conventions = dataclasses.field(default_factory=bn.Conventions)
    dropout: tuple[str, str, str] = ("inverse_keep", "identity", "drop_probability")


def conv(**changes: object) -> Call:
    return Call(conv=bn.Conventions().with_(**changes))


def _dropout(scale: str = "inverse_keep", inference: str = "identity",
             semantics: str = "drop_probability") -> Call:
    return Call(dropout=(scale, inference, semantics))


@dataclass(frozen=True)
class Row:
    behaviour: str
    op: str
    values: Mapping[str, Call]


# One row per behaviour the oracle expresses. When the oracle grows a convention (the
# statistics-precision fields), add a row.
ROWS: tuple[Row, ...] = (
    Row("momentum_convention", "batchnorm", {
        v: conv(momentum_convention=v) for v in bn.MOMENTUM_CONVENTIONS}),
    Row("normalize_variance", "batchnorm", {
        v: conv(normalize_variance=v) for v in bn.VARIANCE_ESTIMATORS}),
    Row("running_variance_update", "batchnorm", {
        v: conv(running_variance_update=v) for v in bn.RUNNING_VARIANCE_UPDATES}),
    Row("epsilon_placement", "batchnorm", {
        v: conv(epsilon_placement=v) for v in bn.EPSILON_PLACEMENTS}),
    Row("epsilon_effective", "batchnorm", {
        "as_given": conv(), "clamped_to:1e-05": conv(epsilon_floor=1e-5),
        "clamped_to:0.001": conv(epsilon_floor=1e-3)}),
    Row("gamma_applied", "batchnorm", {
        "yes": conv(gamma_applied=True), "no": conv(gamma_applied=False)}),
    Row("inference_statistics", "batchnorm", {
        v: conv(inference_statistics=v) for v in bn.INFERENCE_STATISTICS}),
    Row("stats_update_trigger", "batchnorm", {  # "backward" needs the mean_after_* probes
        "forward": conv(), "never": conv(stats_update_trigger="never")}),
    Row("momentum_precision", "batchnorm", {
        v: conv(momentum_precision=v) for v in bn.MOMENTUM_PRECISIONS}),
    Row("epsilon_precision", "batchnorm", {
        v: conv(epsilon_precision=v) for v in bn.EPSILON_PRECISIONS}),
    # TODO(lead): stats_precision_float64/float16/bfloat16 rows once the oracle can
    # accumulate batch statistics in a given precision (the bn_half and float64 cases
    # are there for them).
    Row("variance_normalized", "centering", {
        "yes": conv(variance_normalized=True), "no": conv(variance_normalized=False)}),
    Row("offset_applied", "centering", {
        "yes": conv(offset_applied=True), "no": conv(offset_applied=False)}),
    Row("training_scale", "dropout", {
        v: _dropout(scale=v) for v in do.TRAINING_SCALES}),
    Row("inference_output", "dropout", {  # TODO(lead): "dropout_applied" once modelled
        v: _dropout(inference=v) for v in do.INFERENCE_OUTPUTS}),
    Row("rate_semantics", "dropout", {
        v: _dropout(scale="inverse_keep", inference="scaled_by_keep", semantics=v)
        for v in do.RATE_SEMANTICS}),
)

# Conventions a centering case's flags fix (as the oracle row applies them).
_FLAGS = {"mean_only": {"variance_normalized": False, "gamma_applied": False},
          "scale_off": {"gamma_applied": False}, "center_off": {"offset_applied": False},
          "affine_off": {"gamma_applied": False, "offset_applied": False}}

Outputs = dict[str, np.ndarray]


def oracle_outputs(case: Case, inputs: Mapping[str, np.ndarray], call: Call) -> Outputs:
    if case.op == "dropout":
        x, rate = inputs["x"], float(case.get("rate"))  # type: ignore[arg-type]
        noise = case.get("noise_shape")
        mask_shape = noise if isinstance(noise, tuple) else x.shape
        kept = np.broadcast_to(np.random.default_rng(case.seed).random(mask_shape) >= rate,
                               x.shape)
        scale, inference, semantics = call.dropout
        return {"y_train": do.training_output(x, kept, rate, scale, semantics),
                "y_eval": do.inference_output(x, rate, inference, semantics)}
    c = call.conv
    if case.op == "centering":
        flags = dict(_FLAGS.get(str(case.get("flags")), {}))
        for name in ("variance_normalized", "offset_applied"):  # the row's own choice wins
            if getattr(c, name) != getattr(bn.Conventions(), name):
                flags.pop(name, None)
        c = c.with_(**flags)
    return bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                       inputs["beta"], momentum_of(case, DEFAULT_MOMENTUM),
                       epsilon_of(case, DEFAULT_EPSILON), c)


def separates(case: Case, a: Outputs, b: Outputs,
              tolerance: Callable[[Case, str], Tolerance] = tolerance_for) -> bool:
    """Whether some output differs beyond the case's tolerance, whichever is the truth."""
    for key in a.keys() & b.keys():
        tol = tolerance(case, key)
        if compare(a[key], b[key], tol).ratio > 1 and compare(b[key], a[key], tol).ratio > 1:
            return True
    return False


def undistinguished(rows: Iterable[Row], cases: Iterable[Case],
                    tolerance: Callable[[Case, str], Tolerance] = tolerance_for,
                    ) -> list[tuple[str, str, str]]:
    """(behaviour, value, value) of every pair no decisive case separates."""
    decisive = [c for c in cases if not c.informational]
    inputs = {c.id: inputs_for(c) for c in decisive}
    missing = []
    for row in rows:
        outs: dict[tuple[str, str], Outputs] = {}
        for a, b in itertools.combinations(row.values, 2):
            found = False
            for case in (c for c in decisive if c.op == row.op):
                for v in (a, b):
                    if (case.id, v) not in outs:
                        outs[(case.id, v)] = oracle_outputs(case, inputs[case.id],
                                                            row.values[v])
                if separates(case, outs[(case.id, a)], outs[(case.id, b)], tolerance):
                    found = True
                    break
            if not found:
                missing.append((row.behaviour, a, b))
    return missing


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.behaviour)
def test_every_pair_of_values_is_separated_by_a_case(row: Row, cases: list[Case]) -> None:
    assert undistinguished([row], cases) == []


def test_the_check_fails_without_the_discriminating_cases(cases: list[Case]) -> None:
    # Without explicit epsilons below 1e-5, nothing tells a 1e-5 floor from as_given.
    row = next(r for r in ROWS if r.behaviour == "epsilon_effective")
    kept = [c for c in cases if not (isinstance(c.get("epsilon"), float)
                                     and float(c.get("epsilon")) < 1e-5)]  # type: ignore[arg-type]
    assert ("epsilon_effective", "as_given", "clamped_to:1e-05") in undistinguished([row], kept)


def test_the_check_fails_with_tolerances_that_cannot_fail(cases: list[Case]) -> None:
    # The bound bn_offset float32 used to carry: no pair of any row survives it.
    wide = Tolerance(22.9, 22.9)
    few = [c for c in cases if c.family in ("bn_epsilon", "bn_momentum", "do_rate")]
    missing = undistinguished(ROWS[:3], few, tolerance=lambda case, key: wide)
    assert len(missing) == sum(len(list(itertools.combinations(r.values, 2)))
                               for r in ROWS[:3])


def test_informational_cases_do_not_count(cases: list[Case]) -> None:
    row = next(r for r in ROWS if r.behaviour == "gamma_applied")
    marked = [dataclasses.replace(c, informational="test") for c in cases]
    assert undistinguished([row], marked) == [("gamma_applied", "yes", "no")]
