"""Behaviour inference for batch norm and centering rows.

The convention space is fitted in separable groups, each against the outputs
it alone depends on: the training output (variance estimator, epsilon
placement and floor, gamma), the running-mean trajectory (momentum
convention), the running-variance trajectory (estimator folded in), the
inference output (running or batch statistics, fed the implementation's own
final running statistics so earlier choices cannot leak in). Numeric defaults
are estimated directly from outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from conformance.adapters.documented import format_number
from conformance.cases.model import Case, Tolerance, epsilon_of, momentum_of
from conformance.compare.errors import compare, ratios
from conformance.compare.fit import Candidate, Finding, Score, fit, grid, marginal
from conformance.oracle import batchnorm as bn

EPSILON_FLOORS: tuple[float | None, ...] = (None, 1e-5, 1.001e-5, 1e-3)
FALLBACK_MOMENTUM = 0.1
FALLBACK_EPSILON = 1e-5


# Batch moments of each training step, by case id (shared across the rows of an
# analysis, whose inputs are the same arrays) or by evidence object.
MomentCache = dict[object, list[tuple[np.ndarray, np.ndarray, int]]]


@dataclass(frozen=True)
class Evidence:
    case: Case
    outputs: Mapping[str, np.ndarray]
    inputs: Mapping[str, np.ndarray]


# Inference asks which formula an implementation follows, not how precisely: an
# implementation that keeps eps or momentum in float32 (MXNet, TF's v1 decay) still
# follows its formula. Candidate formulas differ by far more than this floor on the
# cases that discriminate them; precision is judged by the strict checks instead.
INFERENCE_TOLERANCE_FLOOR = 1e-5


def fit_tolerance(case: Case) -> Tolerance:
    t = case.tolerance
    return Tolerance(max(t.rtol, INFERENCE_TOLERANCE_FLOOR), max(t.atol, INFERENCE_TOLERANCE_FLOOR))


def _floor_text(floor: float | None) -> str:
    return "as_given" if floor is None else f"clamped_to:{format_number(floor)}"


def _conv(c: Candidate) -> bn.Conventions:
    return bn.Conventions(**c)


class BatchNormInference:
    """Infers every batch-norm behaviour of one implementation row."""

    def __init__(self, evidence: Sequence[Evidence], momentum_default: float | None,
                 epsilon_default: float | None, moments: MomentCache | None = None) -> None:
        self.ev = list(evidence)
        self.m_default = momentum_default
        self.e_default = epsilon_default
        self._ratios: dict[tuple[int, float, bn.Conventions], float] = {}
        self._moments: MomentCache = {}
        self._shared_moments = moments
        self._tolerances: dict[int, Tolerance] = {}
        self._running: dict[tuple[object, ...], float] = {}
        self._new_weight: tuple[float | None, list[str]] | None = None

    def moments(self, e: Evidence) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """``batch_moments`` of each training step of ``e``, computed once per case."""
        cache, key = ((self._moments, id(e)) if self._shared_moments is None
                      else (self._shared_moments, e.case.id))
        if key not in cache:
            cache[key] = [bn.batch_moments(x, e.case.channel_axis) for x in e.inputs["train"]]
        return cache[key]

    def tolerance(self, e: Evidence) -> Tolerance:
        if id(e) not in self._tolerances:
            self._tolerances[id(e)] = fit_tolerance(e.case)
        return self._tolerances[id(e)]

    # --- numeric defaults ------------------------------------------------------
    def estimate_epsilon_default(self, placement: str, gamma_applied: bool,
                                 variance: str = "biased") -> Finding:
        estimates, ids = [], []
        for e in self.ev:
            if (e.case.get("epsilon") != "default" or e.case.get("special") != "tiny_variance"
                    or "y_train" not in e.outputs):
                continue
            axis = e.case.channel_axis
            x = np.moveaxis(np.asarray(e.inputs["train"][0], dtype=np.float64), axis, 0)[1]
            y = np.moveaxis(np.asarray(e.outputs["y_train"][0], dtype=np.float64), axis, 0)[1]
            g = float(e.inputs["gamma"][1]) if gamma_applied else 1.0
            b = float(e.inputs["beta"][1])
            mean, var = x.mean(), x.var(ddof=1 if variance == "unbiased" else 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.median((x - mean) * g / (y - b))
            est = bn.epsilon_from_denominator(float(d), float(var), placement)
            if np.isfinite(est):
                estimates.append(float(est))
                ids.append(e.case.id)
        if not estimates:
            return Finding("epsilon_default", "not_measured", note="no default-epsilon probe ran")
        value = float(np.median(estimates))
        return Finding("epsilon_default", format_number(value), ids,
                       note=f"estimated from a channel with variance ~1e-6 ({placement})")

    def new_weight(self) -> tuple[float | None, list[str]]:
        """Weight the first update gives the new batch mean (convention-free), and its cases."""
        if self._new_weight is None:
            self._new_weight = self._measure_new_weight()
        return self._new_weight

    def _measure_new_weight(self) -> tuple[float | None, list[str]]:
        ws, ids = [], []
        for e in self.ev:
            if e.case.get("momentum") != "default" or "running_mean" not in e.outputs:
                continue
            mean, _, _ = self.moments(e)[0]
            rm1 = np.asarray(e.outputs["running_mean"][0], dtype=np.float64)
            big = np.abs(mean) > 0.05
            if big.any():
                ws.append(float(np.median(rm1[big] / mean[big])))
                ids.append(e.case.id)
        return (float(np.median(ws)) if ws else None), ids

    def estimate_momentum_default(self, convention: str) -> Finding:
        w, ids = self.new_weight()
        if w is None:
            return Finding("momentum_default", "not_measured", note="no default-momentum case")
        if convention == "cumulative_average":
            return Finding("momentum_default", "none", ids[:6], note="cumulative average")
        m = w if convention == "weight_on_new" else 1.0 - w
        return Finding("momentum_default", format_number(m), ids[:6],
                       note=f"weight on the new batch after one step: {w:.4g} ({convention})")

    def default_momentum_for(self, convention: str) -> float:
        """The default momentum in ``convention``'s terms: measured if possible, else documented."""
        w, _ = self.new_weight()
        if w is None:
            return self.m_default if self.m_default is not None else FALLBACK_MOMENTUM
        return w if convention == "weight_on_new" else 1.0 - w

    # --- fitted groups ---------------------------------------------------------
    def fit_training(self, centering: bool = False,
                     explicit_only: bool = False) -> list[tuple[Candidate, Score]]:
        space: dict[str, Sequence[object]] = {
            "normalize_variance": bn.VARIANCE_ESTIMATORS,
            "epsilon_placement": bn.EPSILON_PLACEMENTS,
            "epsilon_floor": EPSILON_FLOORS,
            "gamma_applied": (True, False),
        }
        if centering:
            space = {"variance_normalized": (True, False), "gamma_applied": (True, False),
                     "offset_applied": (True, False)}
        eps_default = self.e_default if self.e_default is not None else FALLBACK_EPSILON
        candidates = grid(space)
        # Floor-free conventions and effective epsilon of every (candidate, case): the
        # ratio depends on nothing else, so candidates differing only in a floor below
        # epsilon, and the second fitting pass, share one computation.
        plain = [_conv({**c, "epsilon_floor": None}) for c in candidates]
        floors = [c.get("epsilon_floor") for c in candidates]
        used = [e for e in self.ev if "y_train" in e.outputs and not (
            explicit_only and e.case.get("epsilon") == "default")]
        keys: dict[int, list[tuple[int, float, bn.Conventions]]] = {}
        for e in used:
            eps = epsilon_of(e.case, eps_default)
            keys[id(e)] = [(id(e), eps if f is None else max(eps, f), conv)
                           for f, conv in zip(floors, plain, strict=True)]
            self._training_ratios(e, keys[id(e)])
        index = {id(c): j for j, c in enumerate(candidates)}

        def evaluate(c: Candidate) -> dict[str, float]:
            j = index[id(c)]
            return {e.case.id: self._ratios[keys[id(e)][j]] for e in used}

        return fit(candidates, evaluate)

    def _training_ratios(self, e: Evidence,
                         keys: Sequence[tuple[int, float, bn.Conventions]]) -> None:
        """Worst error/tol over the training steps of ``e`` for each missing key (evidence,
        effective epsilon, floor-free conventions), all variants of a step at once."""
        todo = list(dict.fromkeys(k for k in keys if k not in self._ratios))
        if not todo:
            return
        variants = [(eff, conv) for _, eff, conv in todo]
        worst = [0.0] * len(todo)
        for i, (x, moments) in enumerate(zip(e.inputs["train"], self.moments(e), strict=True)):
            expected = bn.training_outputs(x, e.case.channel_axis, variants, e.inputs["gamma"],
                                           e.inputs["beta"], moments)
            got = ratios(e.outputs["y_train"][i], expected, self.tolerance(e))
            worst = [max(w, r) for w, r in zip(worst, got, strict=True)]
        for key, w in zip(todo, worst, strict=True):
            self._ratios[key] = w

    def fit_running(self, key: str, space: Mapping[str, Sequence[object]],
                    fixed: Candidate) -> list[tuple[Candidate, Score]]:
        used = [e for e in self.ev if key in e.outputs and e.case.get("momentum") != "none"]
        index = 0 if key == "running_mean" else 1

        def evaluate(c: Candidate) -> dict[str, float]:
            conv = _conv({**fixed, **c})
            m_default = self.default_momentum_for(conv.momentum_convention)
            out = {}
            for e in used:
                momentum = momentum_of(e.case, m_default)
                # Statistics that never update are the initial values whatever the rest.
                memo = (id(e), key, "never") if conv.stats_update_trigger == "never" else (
                    id(e), key, momentum, conv.momentum_convention,
                    conv.running_variance_update)
                if memo not in self._running:
                    exp = bn.running_statistics(e.inputs["train"], e.case.channel_axis,
                                                momentum, conv, moments=self.moments(e))[index]
                    self._running[memo] = compare(e.outputs[key], exp, self.tolerance(e)).ratio
                out[e.case.id] = self._running[memo]
            return out

        return fit(grid(space), evaluate)

    def fit_inference(self, fixed: Candidate) -> list[tuple[Candidate, Score]]:
        eps_default = self.e_default if self.e_default is not None else FALLBACK_EPSILON

        def evaluate(c: Candidate) -> dict[str, float]:
            conv = _conv(fixed)
            ratios = {}
            for e in self.ev:
                if "y_eval" not in e.outputs:
                    continue
                eps = epsilon_of(e.case, eps_default)
                x = e.inputs["eval"]
                if c["inference_statistics"] == "batch":
                    exp = bn.training_output(x, e.case.channel_axis, eps, e.inputs["gamma"],
                                             e.inputs["beta"], conv)
                elif "running_mean" in e.outputs and "running_var" in e.outputs:
                    exp = bn.normalize(x, e.case.channel_axis, e.outputs["running_mean"][-1],
                                       e.outputs["running_var"][-1], eps, e.inputs["gamma"],
                                       e.inputs["beta"], conv)
                else:
                    continue
                ratios[e.case.id] = compare(e.outputs["y_eval"], exp, fit_tolerance(e.case)).ratio
            return ratios

        return fit(grid({"inference_statistics": bn.INFERENCE_STATISTICS}), evaluate)


def _trigger(ev: Sequence[Evidence]) -> Finding:
    for e in ev:
        o = e.outputs
        if "mean_after_forward" not in o or e.case.get("momentum") not in ("default", 0.1, 0.5):
            continue
        fwd = np.abs(np.asarray(o["mean_after_forward"], dtype=np.float64)).max() > 0
        bwd = np.abs(np.asarray(o.get("mean_after_backward", o["mean_after_forward"]),
                                dtype=np.float64)).max() > 0
        value = "forward" if fwd else "backward" if bwd else "never"
        return Finding("stats_update_trigger", value, [e.case.id],
                       note="running mean of a fresh layer after forward only "
                            f"({'changed' if fwd else 'unchanged'}) and after backward "
                            f"({'changed' if bwd else 'unchanged'})")
    return Finding("stats_update_trigger", "not_measured", note="no probe outputs")


def classify_batch_one(e: Evidence, status: str, error: str) -> Finding:
    """What a training step does on a batch of one sample with nothing else to reduce."""
    if status == "error":
        return Finding("batch_size_one_training", "error", [e.case.id], note=error[:200])
    if "y_train" not in e.outputs:
        return Finding("batch_size_one_training", "not_measured", note="no training output")
    y = np.asarray(e.outputs["y_train"][0], dtype=np.float64)
    x = np.asarray(e.inputs["train"][0], dtype=np.float64)
    beta = np.broadcast_to(np.asarray(e.inputs["beta"], dtype=np.float64), y.shape)
    if np.isnan(y).all():
        value = "nan"
    elif np.allclose(y, 0.0):
        value = "zeros"
    elif np.allclose(y, beta, rtol=1e-3, atol=1e-3):
        value = "beta"
    elif np.allclose(y, x, rtol=1e-3, atol=1e-3):
        value = "identity"
    else:
        value = "other"
    return Finding("batch_size_one_training", value, [e.case.id],
                   note="x - mean is 0 for a single sample: the normalized output is beta")


def _frozen(ev: Sequence[Evidence], conv: bn.Conventions, eps_default: float) -> Finding:
    for e in ev:
        if "frozen_train" not in e.outputs or e.case.get("momentum") != "default":
            continue
        x = e.inputs["train"][0]
        eps = epsilon_of(e.case, eps_default)
        c = np.ones(e.case.channels)
        as_inference = bn.normalize(x, e.case.channel_axis, 0 * c, c, eps, e.inputs["gamma"],
                                    e.inputs["beta"], conv)
        as_training = bn.training_output(x, e.case.channel_axis, eps, e.inputs["gamma"],
                                         e.inputs["beta"], conv)
        r_inf = compare(e.outputs["frozen_train"], as_inference, fit_tolerance(e.case)).ratio
        r_tr = compare(e.outputs["frozen_train"], as_training, fit_tolerance(e.case)).ratio
        value = "inference" if r_inf < r_tr else "training"
        return Finding("frozen_layer_mode", value, [e.case.id],
                       {"inference": f"error/tol {r_inf:.3g}", "training": f"error/tol {r_tr:.3g}"})
    return Finding("frozen_layer_mode", "not_measured", note="the API has no trainable flag")


def infer_batchnorm(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
                    documented: Mapping[str, str], cases: Mapping[str, Case],
                    moments: MomentCache | None = None) -> list[Finding]:
    """All batch-norm findings of one row. ``failed`` maps case id to (status, error);
    ``moments``: a cache by case id shared with other rows whose evidence has the same inputs."""
    m_doc = _float_or_none(documented.get("momentum_default"))
    e_doc = _float_or_none(documented.get("epsilon_default"))
    normal = [e for e in ev if e.case.get("batch_one") is None and _reduce(e.case) > 1]
    inf = BatchNormInference(normal, m_doc, e_doc, moments)
    findings: list[Finding] = []
    # Pass 1 on explicit epsilons fixes the formula; the default epsilon is then measured
    # under that formula, and pass 2 fits every case with it.
    first = inf.fit_training(explicit_only=True)
    first_best = first[0][0] if first and first[0][1].total else {}
    eps_finding = inf.estimate_epsilon_default(
        str(first_best.get("epsilon_placement", "inside_sqrt")),
        bool(first_best.get("gamma_applied", True)),
        str(first_best.get("normalize_variance", "biased")))
    if first and first[0][1].total and 2 * first[0][1].fits < first[0][1].total:
        eps_finding = Finding("epsilon_default", "inconclusive", note=(
            "the training output fits no epsilon formula, so epsilon cannot be read off it"))
    if eps_finding.actual not in ("not_measured", "inconclusive"):
        inf.e_default = float(eps_finding.actual)
    training = inf.fit_training()
    best = training[0][0] if training else {}
    findings.append(marginal(training, "normalize_variance", "normalize_variance"))
    findings.append(marginal(training, "epsilon_placement", "epsilon_placement"))
    findings.append(marginal(training, "epsilon_effective", "epsilon_floor", _floor_text))
    findings.append(marginal(training, "gamma_applied", "gamma_applied",
                             lambda v: "yes" if v else "no"))
    means = inf.fit_running("running_mean", {"momentum_convention": bn.MOMENTUM_CONVENTIONS,
                                             "stats_update_trigger": ("forward", "never")}, {})
    findings.append(marginal(means, "momentum_convention", "momentum_convention"))
    mconv = means[0][0] if means else {"momentum_convention": "weight_on_old"}
    var_fit = inf.fit_running("running_var", {"running_variance_update":
                                              bn.RUNNING_VARIANCE_UPDATES}, mconv)
    findings.append(marginal(var_fit, "running_variance_update", "running_variance_update"))
    conv_keys = ("normalize_variance", "epsilon_placement", "epsilon_floor", "gamma_applied")
    fixed = {k: best[k] for k in conv_keys if k in best}
    findings.append(marginal(inf.fit_inference(fixed), "inference_statistics",
                             "inference_statistics"))
    if means and means[0][0].get("stats_update_trigger") == "never":
        findings.append(Finding("momentum_default", "not_measured",
                                note="the running statistics never change"))
    else:
        findings.append(inf.estimate_momentum_default(str(mconv.get("momentum_convention"))))
    findings.append(eps_finding)
    findings.append(_trigger(normal))
    # float32 first: it is what users train in, and some paths fail on float64 alone.
    ones = sorted((cid for cid, c in cases.items() if c.op == "batchnorm" and _reduce(c) == 1),
                  key=lambda cid: cases[cid].dtype != "float32")
    by_id = {e.case.id: e for e in ev}
    one = Finding("batch_size_one_training", "not_measured", note="no batch-of-one case ran")
    for cid in ones:
        if cid in by_id:
            one = classify_batch_one(by_id[cid], "ok", "")
        elif cid in failed and failed[cid][0] == "error":
            one = classify_batch_one(Evidence(cases[cid], {}, {}), "error", failed[cid][1])
        else:
            continue
        break
    findings.append(one)
    findings.append(_frozen(normal, _conv(fixed) if fixed else bn.Conventions(),
                            e_doc if e_doc is not None else FALLBACK_EPSILON))
    return findings


def infer_centering(ev: Sequence[Evidence], documented: Mapping[str, str],
                    moments: MomentCache | None = None) -> list[Finding]:
    inf = BatchNormInference(ev, _float_or_none(documented.get("momentum_default")),
                             _float_or_none(documented.get("epsilon_default")), moments)
    scored = inf.fit_training(centering=True)
    yes_no = lambda v: "yes" if v else "no"  # noqa: E731
    # The running-mean convention is not a centering behaviour, but the checks need it.
    means = inf.fit_running("running_mean", {"momentum_convention": bn.MOMENTUM_CONVENTIONS}, {})
    convention = marginal(means, "momentum_convention", "momentum_convention")
    mconv = means[0][0] if means else {"momentum_convention": "weight_on_old"}
    var_fit = inf.fit_running("running_var", {"running_variance_update":
                                              bn.RUNNING_VARIANCE_UPDATES}, mconv)
    return [marginal(scored, "variance_normalized", "variance_normalized", yes_no),
            marginal(scored, "offset_applied", "offset_applied", yes_no), convention,
            inf.estimate_momentum_default(convention.actual),
            marginal(var_fit, "running_variance_update", "running_variance_update")]


def _reduce(case: Case) -> int:
    return math.prod(case.shape) // case.channels


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
