"""Per-case checks against the oracle, and the cause of each mismatch.

A check compares an output with the oracle under the row's *reference*
conventions: the documented value of each behaviour, the measured one where the
documentation is silent. A mismatch is then re-checked under the *measured*
conventions alone: when that passes, the behaviours whose documented and
measured values differ are its cause; when it does not, the mismatch is
unexplained (a suspected bug, see :mod:`conformance.compare.explain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.cases.model import Case, epsilon_of, momentum_of
from conformance.cases.tolerances import tolerance_for
from conformance.compare import special
from conformance.compare.bn_probes import (
    ILL_CONDITIONED,
    condition,
    narrow_band,
    one_pass_band,
    stepwise_band,
)
from conformance.compare.errors import compare
from conformance.compare.evidence import Evidence, MomentCache, tolerance
from conformance.compare.infer_dropout import MaskShape, mask_checks, rate_of
from conformance.compare.load import Run
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do
from conformance.spec import UNDECIDED, Status

UNEXPLAINED = "unexplained"
MODES = {"y_train": "training", "running_mean": "sequence", "running_var": "sequence",
         "y_eval": "inference"}
# Conventions fields and the behaviours that name them.
_FIELDS = {"momentum_convention": "weight_on_old", "normalize_variance": "biased",
           "running_variance_update": "unbiased", "epsilon_placement": "inside_sqrt",
           "inference_statistics": "running", "momentum_precision": "as_given",
           "epsilon_precision": "as_given"}
_STATS_PRECISION = {"float64": ("stats_precision_float64", "float32"),
                    "float16": ("stats_precision_float16", "float16"),
                    "bfloat16": ("stats_precision_bfloat16", "bfloat16")}


@dataclass(frozen=True)
class Setting:
    """Conventions and defaults a check runs under, and where each value came from."""

    conv: bn.Conventions
    momentum: float | None  # default momentum; None: unknown
    epsilon: float | None  # default epsilon; None: unknown
    values: Mapping[str, str]  # behaviour -> value used


def setting(values: Mapping[str, str]) -> Setting:
    """The conventions that ``values`` (behaviour -> value) describe; undecided or missing
    behaviours take the oracle's reference value, defaults stay unknown."""
    used = {k: v for k, v in values.items() if v and v not in UNDECIDED}

    def pick(name: str, default: str) -> str:
        return used.get(name, default)

    eff = pick("epsilon_effective", "as_given")
    conv = bn.Conventions(
        epsilon_floor=float(eff.split(":")[1]) if eff.startswith("clamped_to:") else None,
        gamma_applied=pick("gamma_applied", "yes") == "yes",
        stats_update_trigger="never" if pick("stats_update_trigger", "forward") == "never"
        else "forward").with_(**{f: pick(f, d) for f, d in _FIELDS.items()})
    return Setting(conv, _number(used.get("momentum_default")),
                   _number(used.get("epsilon_default")), used)


_PRECISION_OF = {"momentum_default": "momentum_precision",
                 "epsilon_default": "epsilon_precision"}


def _rounding(behaviour: str, values: Mapping[str, str]) -> bool:
    """Whether the implementation rounds this default to float32 anyway (then 0.9 and
    float32(0.9) are the same default, told apart only by the precision behaviour)."""
    return values.get(_PRECISION_OF.get(behaviour, ""), "as_given") not in ("as_given", "")


def same_arithmetic(a: str | None, b: str | None, float32: bool = False) -> bool:
    """Whether two values make the same arithmetic: equal text, or numbers equal to float64
    roundoff (a default of float32(0.001) is not 0.001: the difference shows in float64
    outputs), or to float32 when ``float32``. Stricter than ``agreement.same_value``'s 1 %,
    which judges documentation, not which behaviour caused a mismatch."""
    if a == b:
        return True
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return False
    if float32:
        x, y = float(np.float32(x)), float(np.float32(y))
    return abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def result_row(run: Run, r: Mapping[str, Any], case: Case | None, check: str, status: Status,
               mode: str, err: tuple[float, float] | None = None, detail: str = "",
               cause: str = "") -> dict[str, Any]:
    return {
        "framework": run.framework, "framework_version": run.version,
        "implementation": r["implementation"], "op": r["op"], "mode": mode,
        "case_id": r["case_id"], "check": check, "status": status.value,
        "max_abs_err": "" if err is None else f"{err[0]:.3g}",
        "max_rel_err": "" if err is None else f"{err[1]:.3g}",
        "tolerance": tolerance_for(case, check).describe() if case else "", "detail": detail,
        "cause": cause,
    }


def _expected(e: Evidence, s: Setting, moments: MomentCache) -> dict[str, np.ndarray] | None:
    case = e.case
    if (case.get("momentum") == "default" and s.momentum is None) or (
            case.get("epsilon") == "default" and s.epsilon is None):
        return None  # a default nobody documented or measured: nothing to predict
    momentum = momentum_of(case, s.momentum or 0.0)
    eps = epsilon_of(case, s.epsilon or 0.0)
    try:
        variant = special.batchnorm(case, e.config, e.inputs, s.conv, momentum, eps,
                                    s.conv.momentum_precision)
    except ValueError:  # a combination the special oracle cannot model: nothing to predict
        return None
    if variant is not None:
        return variant.outputs
    if case.id not in moments:
        moments[case.id] = [bn.batch_moments(x, case.channel_axis) for x in e.inputs["train"]]
    return bn.sequence(e.inputs["train"], e.inputs["eval"], case.channel_axis,
                       e.inputs["gamma"], e.inputs["beta"], momentum, eps, s.conv,
                       moments=moments[case.id])


Make = Callable[[Mapping[str, str]], Setting]


# Behaviours that make a running statistic: when the suite's recipe code owns them, a
# mismatch of that statistic is the recipe's arithmetic (cause RECIPE), not the framework's.
_RUNNING = frozenset({"momentum_convention", "momentum_default", "momentum_precision",
                      "running_variance_update"})
RECIPE = "recipe"


def bn_checks(run: Run, r: Mapping[str, Any], e: Evidence, moments: MomentCache,
              reference: Mapping[str, str], measured: Mapping[str, str], source: str,
              make: Make = setting, recipe: frozenset[str] = frozenset()
              ) -> list[dict[str, Any]]:
    """One row per output of a batch-norm or centering case, with the mismatch's cause.
    ``reference``/``measured``: behaviour values; ``make`` turns values into a Setting;
    ``recipe``: the behaviours the suite's own code decides for this row."""
    case = e.case
    exp = _expected(e, make(reference), moments)
    if exp is None:
        return []
    rows = []
    for key, mode in MODES.items():
        if key not in e.outputs:
            continue
        c = compare(e.outputs[key], exp[key], tolerance(e, key))
        if c.passed:
            rows.append(result_row(run, r, case, key, Status.PASS, mode,
                                   (c.max_abs, c.max_rel)))
            continue
        cause = _cause(e, key, reference, measured, make, moments)
        if cause == UNEXPLAINED and key.startswith("running_") and recipe & _RUNNING:
            cause = RECIPE
        one = measured.get("batch_size_one_training")
        if cause == UNEXPLAINED and math.prod(case.shape) == case.channels and one not in (
                None, "beta", *UNDECIDED):
            cause = "batch_size_one_training"  # its own behaviour names what happens there
        detail = (f"{run.framework} {run.version} {r['implementation']} on {case.id} "
                  f"({case.dtype}, shape {case.shape}): {key} differs from the oracle under "
                  f"{source}"
                  + (f" [informational case: {case.informational}]" if case.informational
                     else ""))
        rows.append(result_row(run, r, case, key, Status.MISMATCH, mode,
                               (c.max_abs, c.max_rel), detail, cause))
    return rows


def _cause(e: Evidence, key: str, reference: Mapping[str, str], measured: Mapping[str, str],
           make: Make, moments: MomentCache) -> str:
    """The smallest set of behaviours whose documented value, replaced by the measured one,
    reproduces the output; ``unexplained`` when even the measured conventions do not. A
    measured narrow precision (statistics accumulated in a narrow dtype, a half-precision
    output computed step by step) is judged by its own, wider bound, and named."""
    tol, named = tolerance(e, key), []
    if e.case.dtype != "float64" and key in ("y_train", "y_eval") and measured.get(
            "output_precision_half") == "input_dtype":
        tol, named = stepwise_band(e, key), ["output_precision_half"]
    stats = _STATS_PRECISION.get(e.case.dtype)
    if stats and measured.get(stats[0]) == stats[1]:
        tol, named = narrow_band(e, key), [*named, stats[0]]
    if measured.get("variance_computation") == "one_pass" and condition(e) >= ILL_CONDITIONED:
        tol, named = one_pass_band(e, key), [*named, "variance_computation"]

    def reproduces(values: Mapping[str, str]) -> bool:
        exp = _expected(e, make(values), moments)
        return exp is not None and key in exp and compare(e.outputs[key], exp[key], tol).passed

    if not reproduces(measured):
        return UNEXPLAINED
    values = dict(measured)
    differ = sorted(b for b in measured
                    if not same_arithmetic(reference.get(b), measured[b],
                                           _rounding(b, measured)))
    for b in list(differ):  # keep only the differences the output needs
        trial = {**values, b: reference[b]} if b in reference else {
            k: v for k, v in values.items() if k != b}
        if reproduces(trial):
            values = trial
            differ.remove(b)
    return " ".join([*differ, *named]) or UNEXPLAINED


_DROPOUT = {"training_scale": "inverse_keep", "inference_output": "identity",
            "rate_semantics": "drop_probability", "scale_precision": "as_given"}


def _dropout_expected(e: Evidence, values: Mapping[str, str]) -> dict[str, np.ndarray]:
    v = {k: values[k] if values.get(k) and values[k] not in UNDECIDED else d
         for k, d in _DROPOUT.items()}
    variant = special.dropout(e.case, e.config, e.inputs, e.outputs, v["training_scale"],
                              v["inference_output"], v["rate_semantics"], v["scale_precision"])
    if variant is not None:
        return variant.outputs
    rate, x = rate_of(e), e.inputs["x"]
    kept = np.asarray(e.outputs["y_train"]) != 0
    return {"y_train": do.training_output(x, kept, rate, v["training_scale"],
                                          v["rate_semantics"], v["scale_precision"]),
            "y_eval": do.inference_output(x, rate, v["inference_output"], v["rate_semantics"])}


def dropout_checks(run: Run, r: Mapping[str, Any], e: Evidence, reference: Mapping[str, str],
                   measured: Mapping[str, str], shape: MaskShape) -> list[dict[str, Any]]:
    """``shape``: the mask shape the row declares, None when it has no keep/drop mask."""
    case = e.case
    exp = _dropout_expected(e, reference)
    rows = []
    for key in ("y_train", "y_eval"):
        if key not in e.outputs or key not in exp:  # no inference mode (tf.nn.dropout), or
            continue  # nothing to predict (AlphaDropout at rate 1)
        c = compare(e.outputs[key], exp[key], tolerance(e, key))
        cause = ""
        edge = {0.0: ("rate_zero", "identity"), 1.0: ("rate_one", "zeros")}.get(rate_of(e))
        dropping = key == "y_train" or measured.get("inference_output") == "dropout_applied"
        if not c.passed and edge and dropping and measured.get(edge[0]) not in (
                None, edge[1], *UNDECIDED):
            cause = edge[0]  # the edge's own behaviour names what happens there
        elif not c.passed:
            alt = _dropout_expected(e, measured)
            differ = [b for b in _DROPOUT if reference.get(b) != measured.get(b)
                      and measured.get(b) not in (None, "", *UNDECIDED)]
            cause = (" ".join(differ) if differ and compare(e.outputs[key], alt[key],
                                                            tolerance(e, key)).passed
                     else UNEXPLAINED)
        rows.append(result_row(run, r, case, key, Status.PASS if c.passed else Status.MISMATCH,
                               MODES[key], (c.max_abs, c.max_rel), cause=cause))
    semantics = reference.get("rate_semantics")
    semantics = semantics if semantics in do.RATE_SEMANTICS else "drop_probability"
    for check, ok, err, detail in ([] if shape is None else
                                   mask_checks(e, shape, do.drop_probability(rate_of(e),
                                                                             semantics))):
        # A failed mask check is explained when the row's finding says the same thing.
        value = measured.get(check)
        named = (value == "inconsistent" if check == "drop_fraction"
                 else value not in (None, "", "as_declared", *UNDECIDED))
        cause = "" if ok else check if named else UNEXPLAINED
        rows.append(result_row(run, r, case, check, Status.PASS if ok else Status.MISMATCH,
                               "training", err, detail, cause))
    return rows
