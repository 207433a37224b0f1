"""Behaviour inference for batch-norm and centering rows: the order of the steps.

1. The normalization formula from explicit-epsilon cases (no default needed).
2. Epsilon solved for on low-variance channels: the default and any floor.
3. The formula again over every case the measured values can predict, with
   epsilon's floor and precision as candidates.
4. Running statistics: momentum convention and precision, the default momentum
   (the weight of the first update), the estimator folded into the variance.
5. Inference statistics, probes, and the precision of the batch statistics.

No documented value is an input anywhere: what is not measured is left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from conformance.adapters.documented import format_number
from conformance.cases.model import Case, Tolerance
from conformance.compare import bn_probes as probes
from conformance.compare.bn_fit import BatchNormInference
from conformance.compare.evidence import Evidence, FitCache, MomentCache, tolerance
from conformance.compare.fit import Candidate, Finding, Score, grid, marginal
from conformance.oracle import batchnorm as bn

__all__ = ["Evidence", "MomentCache", "infer_batchnorm", "infer_centering"]

FORMULA = {"normalize_variance": bn.VARIANCE_ESTIMATORS,
           "epsilon_placement": bn.EPSILON_PLACEMENTS, "gamma_applied": (True, False)}
FORMULA_KEYS = (*FORMULA, "epsilon_floor", "epsilon_precision")


def _yes_no(v: object) -> str:
    return "yes" if v else "no"


def _floor_text(floor: object) -> str:
    return "as_given" if floor is None else f"clamped_to:{format_number(float(floor))}"  # type: ignore[arg-type]


def _best(scored: Sequence[tuple[Candidate, Score]]) -> Candidate:
    return dict(scored[0][0]) if scored and scored[0][1].total else {}


def _float64_only(finding: Finding, ev: Sequence[Evidence], key: str) -> Finding:
    """A precision behaviour is defined on float64 inputs; without them it is unmeasured."""
    if not any(e.case.dtype == "float64" and key in e.outputs for e in ev):
        return Finding(finding.behaviour, "not_measured", note="no float64 case ran")
    return finding


def momentum_default(inf: BatchNormInference, convention: str) -> Finding:
    w, ids = inf.new_weight()
    if w is None:
        return Finding("momentum_default", "not_measured", note="no default-momentum case")
    if convention == "cumulative_average":
        return Finding("momentum_default", "none", ids[:6], note="cumulative average")
    if convention not in bn.MOMENTUM_CONVENTIONS:
        return Finding("momentum_default", "inconclusive", ids[:6],
                       note=f"weight on the new batch after one step: {w:.4g}, but the "
                            "momentum convention is not known")
    m = w if convention == "weight_on_new" else 1.0 - w
    return Finding("momentum_default", format_number(m), ids[:6],
                   note=f"weight on the new batch after one step: {w:.4g} ({convention})",
                   exact=m)


def infer_batchnorm(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
                    cases: Mapping[str, Case], moments: MomentCache | None = None,
                    fits: FitCache | None = None) -> list[Finding]:
    """All batch-norm findings of one row. ``failed`` maps case id to (status, error);
    ``moments``: a cache by case id shared with other rows whose evidence has the same
    inputs; ``fits``: what the fits share with other rows (keyed by content).

    A row that computes float64 inputs in float32 fits no formula at float64 bounds; once
    its statistics precision is measured as float32, its float64 cases are fitted again
    within float32's bound, so its conventions are still measured."""
    findings = _infer(ev, failed, cases, moments, tolerance, fits)
    by_name = {f.behaviour: f for f in findings}
    narrow = by_name["stats_precision_float64"].actual == "float32"
    unfitted = by_name["normalize_variance"].actual == "inconclusive"
    if not (narrow and unfitted):
        return findings

    def band(e: Evidence, key: str) -> Tolerance:
        return probes.narrow_band(e, key) if e.case.dtype == "float64" else tolerance(e, key)

    refit = _infer(ev, failed, cases, moments, band, fits)
    note = "fitted within float32's bound: float64 inputs are computed in float32"
    for f in refit:
        if f.behaviour != "stats_precision_float64" and f.actual not in ("inconclusive",
                                                                          "not_measured"):
            f.note = f"{f.note}; {note}" if f.note else note
    return [by_name["stats_precision_float64"] if f.behaviour == "stats_precision_float64"
            else f for f in refit]


def _infer(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
           cases: Mapping[str, Case], moments: MomentCache | None,
           band: Callable[[Evidence, str], Tolerance],
           fits: FitCache | None = None) -> list[Finding]:
    normal = [e for e in ev if e.case.get("batch_one") is None and _reduce(e.case) > 1]
    inf = BatchNormInference(normal, moments, band, fits)
    # Epsilon is solved for under every formula, so that each formula competes with its
    # own floor (a floor hides the formula on exactly the cases that show epsilon).
    channels = probes.probe_channels(normal)
    readings = {_formula_key(f): probes.solve_epsilons(
        channels, str(f["epsilon_placement"]), bool(f["gamma_applied"]),
        str(f["normalize_variance"])) for f in grid(FORMULA)}
    floors = {k: probes.epsilon_floor(r) for k, r in readings.items()}
    # Both epsilon precisions: a kernel that keeps epsilon as a float32 attribute (ONNX
    # Runtime) applies float32(eps) to float64 inputs, and no as-given formula fits it.
    first = inf.fit_training(_candidates(floors, bn.EPSILON_PRECISIONS), explicit_only=True)
    formula = _best(first)
    placement = str(formula.get("epsilon_placement", "inside_sqrt"))
    effective, floor = floors.get(_formula_key(formula), (Finding(
        "epsilon_effective", "not_measured", note="no explicit-epsilon case ran"), None))
    eps_finding = probes.epsilon_default(readings.get(_formula_key(formula), []), placement)
    if not formula or 2 * first[0][1].fits < first[0][1].total:
        note = "the training output fits no epsilon formula, so epsilon cannot be read off it"
        eps_finding = Finding("epsilon_default", "inconclusive", note=note)
        effective, floor = Finding("epsilon_effective", "inconclusive", note=note), None
    if eps_finding.actual not in ("not_measured", "inconclusive"):
        inf.epsilon_default = eps_finding.exact if eps_finding.exact is not None else float(
            eps_finding.actual)
    inf.floor = floor
    training = inf.fit_training(_candidates(floors, bn.EPSILON_PRECISIONS))
    best = _best(training)
    findings = [marginal(training, "normalize_variance", "normalize_variance"),
                marginal(training, "epsilon_placement", "epsilon_placement"),
                effective,
                marginal(training, "gamma_applied", "gamma_applied", _yes_no),
                _float64_only(marginal(training, "epsilon_precision", "epsilon_precision"),
                              normal, "y_train")]
    means = inf.fit_running("running_mean", {"momentum_convention": bn.MOMENTUM_CONVENTIONS,
                                             "stats_update_trigger": ("forward", "never"),
                                             "momentum_precision": bn.MOMENTUM_PRECISIONS}, {})
    convention = marginal(means, "momentum_convention", "momentum_convention")
    findings.append(convention)
    mbest = _best(means) or {"momentum_convention": "weight_on_old"}
    never = mbest.get("stats_update_trigger") == "never"
    precision = marginal(means, "momentum_precision", "momentum_precision")
    findings.append(Finding("momentum_precision", "not_measured",
                            note="the running statistics never change") if never
                    else _float64_only(precision, normal, "running_mean"))
    var_fit = inf.fit_running("running_var", {"running_variance_update":
                                              bn.RUNNING_VARIANCE_UPDATES}, mbest)
    findings.append(marginal(var_fit, "running_variance_update", "running_variance_update"))
    fixed = {k: best[k] for k in FORMULA_KEYS if k in best}
    conv = bn.Conventions(**fixed)
    findings.append(marginal(inf.fit_inference(fixed), "inference_statistics",
                             "inference_statistics"))
    findings.append(Finding("momentum_default", "not_measured",
                            note="the running statistics never change") if never
                    else momentum_default(inf, convention.actual))
    findings += [eps_finding, probes.trigger(normal), _batch_one(ev, failed, cases),
                 probes.frozen(normal, conv, inf.epsilon_default)]
    for dtypes, behaviour in ((("float64",), "stats_precision_float64"),
                              (("float16",), "stats_precision_float16"),
                              (("bfloat16",), "stats_precision_bfloat16")):
        findings.append(probes.stats_precision(normal, dtypes, behaviour, conv,
                                               inf.epsilon_default))
    findings.append(probes.output_precision(normal, conv, inf.epsilon_default))
    findings.append(probes.variance_computation(normal, conv, inf.epsilon_default))
    return findings


def _formula_key(c: Candidate) -> tuple[object, ...]:
    return tuple(c.get(k) for k in FORMULA)


def _candidates(floors: Mapping[tuple[object, ...], tuple[Finding, float | None]],
                precisions: Sequence[str]) -> list[Candidate]:
    """Every formula, as given and with the floor measured under it, at each precision."""
    out = []
    for f in grid(FORMULA):
        floor = floors[_formula_key(f)][1]
        for fl in (None,) if floor is None else (None, floor):
            out += [{**f, "epsilon_floor": fl, "epsilon_precision": p} for p in precisions]
    return out


def _batch_one(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
               cases: Mapping[str, Case]) -> Finding:
    # float32 first: it is what users train in, and some paths fail on float64 alone.
    ones = sorted((cid for cid, c in cases.items() if c.op == "batchnorm" and _reduce(c) == 1),
                  key=lambda cid: cases[cid].dtype != "float32")
    by_id = {e.case.id: e for e in ev}
    for cid in ones:
        if cid in by_id:
            return probes.classify_batch_one(by_id[cid], "ok", "")
        if cid in failed and failed[cid][0] == "error":
            finding = probes.classify_batch_one(Evidence(cases[cid], {}, {}), "error",
                                                failed[cid][1])
            # Every batch-of-one case that raised is this behaviour's, not an unnamed error.
            finding.evidence = [c for c in ones if c in failed and failed[c][0] == "error"]
            return finding
    return Finding("batch_size_one_training", "not_measured", note="no batch-of-one case ran")


def infer_centering(ev: Sequence[Evidence], moments: MomentCache | None = None,
                    fits: FitCache | None = None) -> list[Finding]:
    inf = BatchNormInference(ev, moments, fits=fits)
    # Epsilon's precision too: a float64 case's epsilon rounded to float32 would otherwise
    # leave every flag candidate unfitted (Paddle, Keras off TensorFlow).
    scored = inf.fit_training({"variance_normalized": (True, False),
                               "gamma_applied": (True, False), "offset_applied": (True, False),
                               "epsilon_precision": bn.EPSILON_PRECISIONS},
                              explicit_only=True)
    # The running-mean convention is not a centering behaviour, but the checks need it.
    means = inf.fit_running("running_mean", {"momentum_convention": bn.MOMENTUM_CONVENTIONS,
                                             "momentum_precision": bn.MOMENTUM_PRECISIONS}, {})
    convention = marginal(means, "momentum_convention", "momentum_convention")
    var_fit = inf.fit_running("running_var", {"running_variance_update":
                                              bn.RUNNING_VARIANCE_UPDATES},
                              _best(means) or {"momentum_convention": "weight_on_old"})
    return [marginal(scored, "variance_normalized", "variance_normalized", _yes_no),
            marginal(scored, "offset_applied", "offset_applied", _yes_no), convention,
            momentum_default(inf, convention.actual),
            marginal(means, "momentum_precision", "momentum_precision"),
            marginal(scored, "epsilon_precision", "epsilon_precision"),
            marginal(var_fit, "running_variance_update", "running_variance_update")]


def _reduce(case: Case) -> int:
    return math.prod(case.shape) // case.channels
