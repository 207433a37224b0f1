"""Batch-norm behaviours read directly off probe outputs rather than fitted.

Epsilon (its default and any floor) is solved for on the channel with the least
variance, where it shows; the precision of the batch statistics is judged by
how far the output strays from the float64 oracle; the probes (update trigger,
batch of one, frozen layer) each have their own output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from conformance.adapters.documented import format_number
from conformance.cases.families import channel_draws, precision_band
from conformance.cases.model import Tolerance, epsilon_of, unit_roundoff
from conformance.cases.tolerances import (
    BETA_MAX,
    GAMMA_MAX,
    Z_MAX,
    stepwise_half,
    tolerance_for,
)
from conformance.compare.errors import compare, ratio
from conformance.compare.evidence import Evidence, is_special, tolerance
from conformance.compare.fit import Finding
from conformance.oracle import batchnorm as bn

# ``as_given`` needs a probe that rules out any floor at or above this: every floor met in
# practice (cuDNN's 1e-5, TensorFlow's 1.001e-5) is far above it, and a float64 probe with
# epsilon 0 or 1e-8 resolves floors far below it.
FLOOR_RESOLUTION = 1e-7


@dataclass(frozen=True)
class EpsilonReading:
    """The epsilon a training output implies on its least-varying channel."""

    case_id: str
    given: float | None  # None: the case passes no epsilon
    effective: float
    noise: float  # how far ``effective`` may be off from roundoff alone


@dataclass(frozen=True)
class ProbeChannel:
    """A probe's least-varying channel, read once for every formula solved on it."""

    case_id: str
    given: float | None
    centred: np.ndarray  # x - mean on the kept samples (|x - mean| over half its maximum)
    y_minus_beta: np.ndarray  # y - beta on the same samples
    gamma: float
    var: dict[str, float]  # by estimator: biased, unbiased
    rel: float  # the tolerance relative to the typical |y| on the kept samples


def probe_channels(ev: Sequence[Evidence]) -> list[ProbeChannel]:
    """The least-varying channel of each low-variance probe's first training step.

    Only channels whose variance is small next to 1 say anything: there epsilon is a
    sizeable part of the divisor.
    """
    out = []
    for e in ev:
        if "y_train" not in e.outputs or e.case.get("special") not in (
                "tiny_variance", "zero_variance") or is_special(e):
            continue  # (a special row's divisor is not the plain formula's: not read here)
        axis = e.case.channel_axis
        xs = np.moveaxis(np.asarray(e.inputs["train"][0], dtype=np.float64), axis, 0)
        ys = np.moveaxis(np.asarray(e.outputs["y_train"][0], dtype=np.float64), axis, 0)
        flat = xs.reshape(len(xs), -1)
        spread = flat.var(axis=1)
        # A constant channel (variance at roundoff level) has no x - mean to divide.
        spread[spread <= (1e-12 * np.abs(flat).max(axis=1)) ** 2] = np.inf
        ch = int(np.argmin(spread))
        x, y = xs[ch].ravel(), ys[ch].ravel()
        mean = x.mean()
        centred = x - mean
        keep = np.abs(centred) > 0.5 * np.abs(centred).max()
        if not np.isfinite(spread[ch]) or not keep.any():
            continue
        tol = tolerance(e, "y_train")
        rel = _at(tol.rtol, ch) + _at(tol.atol, ch) / max(
            float(np.median(np.abs(y[keep]))), 1e-30)
        given = None if e.case.get("epsilon") == "default" else epsilon_of(e.case, 0.0)
        out.append(ProbeChannel(e.case.id, given, centred[keep],
                                y[keep] - float(e.inputs["beta"][ch]),
                                float(e.inputs["gamma"][ch]),
                                {"biased": float(x.var()), "unbiased": float(x.var(ddof=1))},
                                rel))
    return out


def read_epsilons(ev: Sequence[Evidence], placement: str, gamma_applied: bool,
                  variance: str) -> list[EpsilonReading]:
    """Solve the normalization for epsilon on each probe's least-varying channel."""
    return solve_epsilons(probe_channels(ev), placement, gamma_applied, variance)


def solve_epsilons(channels: Sequence[ProbeChannel], placement: str, gamma_applied: bool,
                   variance: str) -> list[EpsilonReading]:
    """The epsilon each probe channel implies under one formula. The noise bound is what
    the case's own tolerance allows the divisor to be off by, carried through the inverse
    formula."""
    out = []
    for p in channels:
        g = p.gamma if gamma_applied else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            d = float(np.median(p.centred * g / p.y_minus_beta))
        var = p.var[variance]
        eff = bn.epsilon_from_denominator(d, var, placement)
        noise = abs(bn.epsilon_from_denominator(d * (1 + 2 * p.rel), var, placement)
                    - eff) + 1e-300
        if np.isfinite(eff):
            out.append(EpsilonReading(p.case_id, p.given, float(eff), noise))
    return out


def _at(bound: object, channel: int) -> float:
    """A tolerance's value on one channel (per-channel arrays vary along one axis only)."""
    flat = np.asarray(bound, dtype=np.float64).reshape(-1)
    return float(flat[channel] if flat.size > 1 else flat[0])


def epsilon_default(readings: Sequence[EpsilonReading], placement: str) -> Finding:
    """The default epsilon: the effective epsilon of probes that pass none."""
    probes = [r for r in readings if r.given is None]
    if not probes:
        return Finding("epsilon_default", "not_measured", note="no default-epsilon probe ran")
    # The most precise probe gives the value (a float32 probe would blur a float64 one's);
    # every other probe must agree with it to within its own noise.
    best = min(probes, key=lambda r: r.noise)
    value = best.effective
    if any(abs(r.effective - value) > 3 * r.noise + 3 * best.noise for r in probes):
        return Finding("epsilon_default", "inconclusive", [r.case_id for r in probes][:6],
                       note="probes disagree: " + ", ".join(
                           f"{format_number(r.effective)} (noise {r.noise:.1g})"
                           for r in probes))
    note = f"solved for on the least-varying channel ({placement})"
    short = float(format_number(value))
    if abs(short - value) > 1e-12 * value and (
            abs(float(np.float32(short)) - value) < 0.1 * abs(short - value)):
        note += f"; it is float32({format_number(value)}) = {float(np.float32(short))!r}"
    return Finding("epsilon_default", format_number(value),
                   [best.case_id, *(r.case_id for r in probes if r is not best)][:6],
                   note=note, exact=value)


def _given_forms(r: EpsilonReading) -> tuple[float, float]:
    """The given epsilon as passed and as a float32 attribute holds it."""
    g = r.given or 0.0
    return g, float(np.float32(g))


def epsilon_floor(readings: Sequence[EpsilonReading]) -> tuple[Finding, float | None]:
    """``epsilon_effective``: as given, or raised to a floor, solved for (never picked from
    a list). Returns the finding and the measured floor (None when there is none)."""
    given = [r for r in readings if r.given is not None]
    if not given:
        return Finding("epsilon_effective", "not_measured",
                       note="no explicit-epsilon probe on a low-variance channel"), None
    # Epsilon rounded to float32 (a float32 attribute: ONNX Runtime) is neither raised nor
    # lowered: its precision is epsilon_precision's to report, not a floor.
    raised = [r for r in given if r.effective - max(_given_forms(r)) > 3 * r.noise]
    lowered = [r for r in given if min(_given_forms(r)) - r.effective > 3 * r.noise]
    if lowered:
        return Finding("epsilon_effective", "inconclusive", [r.case_id for r in lowered][:6],
                       note="the output implies a smaller epsilon than given: "
                            + ", ".join(f"{format_number(r.given or 0.0)}->"
                                        f"{format_number(r.effective)}" for r in lowered)
                            + " (the formula does not fit these probes)"), None
    if not raised:
        # A probe with given epsilon g rules out every floor above g + 3 * noise.
        low = min(given, key=lambda r: (r.given or 0.0) + 3 * r.noise)
        bound = (low.given or 0.0) + 3 * low.noise
        if bound >= FLOOR_RESOLUTION:
            return Finding("epsilon_effective", "inconclusive", [low.case_id],
                           note=f"no probe rules out a floor below {bound:.2g}: the "
                                "low-variance outputs are not precise enough"), None
        return Finding("epsilon_effective", "as_given", [low.case_id],
                       note=f"epsilon {format_number(low.given or 0.0)} was used as given "
                            f"(to within {low.noise:.2g}): no floor above {bound:.2g}"), None
    floor = float(np.median([r.effective for r in raised]))
    off = [r for r in raised if abs(r.effective - floor) > max(3 * r.noise, 0.01 * floor)]
    # A probe contradicts the floor only if it could have shown it (its noise is smaller).
    above = [r for r in given if r not in raised and floor - (r.given or 0.0) > 3 * r.noise]
    if off or above:
        return Finding("epsilon_effective", "inconclusive", [r.case_id for r in raised][:6],
                       note="epsilon is raised on some probes but not to one constant floor: "
                            + ", ".join(f"{format_number(r.given or 0.0)}->"
                                        f"{format_number(r.effective)}" for r in given)), None
    return Finding("epsilon_effective", f"clamped_to:{format_number(floor)}",
                   [r.case_id for r in raised][:6],
                   note=f"solved for: epsilon below {format_number(floor)} is raised to it"), floor


# |mean| / std from which a case is badly conditioned: there a one-pass variance
# (E[x^2] - E[x]^2) loses digits that a two-pass one keeps; below it the two agree.
ILL_CONDITIONED = 10.0


def channel_conditions(e: Evidence) -> np.ndarray:
    """Each channel's |mean| / std, from the case's own draws (a near-constant channel with
    a mean of 1 is as badly conditioned as a mean of 1e3 with a spread of 1)."""
    c = e.case
    means, stds = channel_draws(np.random.default_rng(c.seed), c.channels,
                                float(c.get("offset", 0.0) or 0.0),  # type: ignore[arg-type]
                                float(c.get("spread", 1.0) or 1.0),  # type: ignore[arg-type]
                                str(c.get("special", "none")), c.get("tiny_mean"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(stds > 0, np.abs(means) / np.where(stds > 0, stds, 1.0), 0.0)


def condition(e: Evidence) -> float:
    """The worst channel's |mean| / std."""
    return float(channel_conditions(e).max())


def _classify(ev: Sequence[Evidence], dtypes: tuple[str, ...], conv: bn.Conventions,
              eps_default: float | None, fine: Callable[[Evidence], Tolerance],
              coarse: Callable[[Evidence], Tolerance], ill_conditioned: bool = False
              ) -> tuple[list[str], list[str], list[str]]:
    """Cases of ``dtypes`` whose training outputs lie within the ``fine`` band, only within
    the ``coarse`` one, or outside both (the oracle under the row's conventions).

    With ``ill_conditioned``, only cases with a badly conditioned channel, whole; else the
    well-conditioned channels of every case: so the precision of the sums and the variance
    formula are each judged where the other is silent."""
    wide: list[str] = []
    narrow: list[str] = []
    outside: list[str] = []
    for e in ev:
        if e.case.dtype not in dtypes or "y_train" not in e.outputs or is_special(e) or (
                e.case.get("epsilon") == "default" and eps_default is None) or (
                e.case.informational):
            continue  # (an informational case's bound is too loose to decide anything)
        ratios = channel_conditions(e)
        bad = ratios >= ILL_CONDITIONED
        if ill_conditioned != bool(bad.any()) and (ill_conditioned or bad.all()):
            continue
        keep = None if ill_conditioned else np.flatnonzero(~bad)
        eps = epsilon_of(e.case, eps_default or 0.0)
        # Every training step: a formula's error may show only once statistics drift.
        exp = np.stack([bn.training_output(x, e.case.channel_axis, eps, e.inputs["gamma"],
                                           e.inputs["beta"], conv) for x in e.inputs["train"]])
        got = np.asarray(e.outputs["y_train"], dtype=np.float64)
        axis = e.case.channel_axis + 1
        if keep is not None and keep.size < ratios.size:
            got, exp = np.take(got, keep, axis=axis), np.take(exp, keep, axis=axis)
        if compare(got, exp, _channels(fine(e), axis, keep)).passed:
            wide.append(e.case.id)
        elif compare(got, exp, _channels(coarse(e), axis, keep)).passed:
            narrow.append(e.case.id)
        else:
            outside.append(e.case.id)
    return wide, narrow, outside


def _channels(tol: Tolerance, axis: int, keep: np.ndarray | None) -> Tolerance:
    """``tol`` restricted to the channels ``keep`` (per-channel bounds vary along ``axis``)."""
    if keep is None:
        return tol

    def take(v: object) -> np.ndarray:
        a = np.asarray(v, dtype=np.float64)
        return np.take(a, keep, axis=axis) if a.ndim > axis and a.shape[axis] > 1 else a

    return Tolerance(take(tol.rtol), take(tol.atol))


def _banded(behaviour: str, dtypes: tuple[str, ...], bands: tuple[list[str], ...],
            fine: str, coarse: str, what: str) -> Finding:
    wide, narrow, outside = bands
    if not (wide or narrow or outside):
        return Finding(behaviour, "not_measured", note=f"no {'/'.join(dtypes)} case ran")
    if wide and not narrow and not outside:
        return Finding(behaviour, fine, wide[:6],
                       note=f"outputs within the bound of {what} in {fine}: {coarse} would "
                            "stray further")
    if narrow and not outside:
        # The bands are nested: one case beyond the fine bound refutes it, and cases
        # within it are what the coarse precision also produces where it is lucky.
        return Finding(behaviour, coarse, narrow[:6],
                       note=f"{len(narrow)} case(s) stray beyond the bound of {what} in {fine}, "
                            f"none beyond {coarse}'s ({len(wide)} within both)")
    return Finding(behaviour, "inconclusive", (outside or narrow)[:6],
                   note=f"{len(wide)} case(s) within the {fine} bound, {len(narrow)} within "
                        f"the {coarse} bound only, {len(outside)} outside both")


def stats_precision(ev: Sequence[Evidence], dtypes: tuple[str, ...], behaviour: str,
                    conv: bn.Conventions, eps_default: float | None) -> Finding:
    """Precision of the batch statistics of ``dtypes`` inputs, from how far the training
    output strays from the float64 oracle under the row's fitted conventions.

    Accumulating in the input's own half precision (by a running sum), or in float32 for
    float64 inputs, costs that precision's roundoff times the reduction's growth; a wider
    accumulator leaves only the output's own roundings (however the output is computed).
    """
    half = "float64" not in dtypes
    fine = stepwise_band if half else _case_band
    bands = _classify(ev, dtypes, conv, eps_default, fine, narrow_band)
    return _banded(behaviour, dtypes, bands, "float32" if half else "float64",
                   dtypes[0] if half else "float32", "statistics accumulated")


# Fractions of output elements beyond half a unit in the last place (plus float32 noise):
# an output computed in float32 and rounded once exceeds it only where the output nearly
# cancels (about 0.1 % of elements here); one rounded step by step exceeds it on a sizeable
# fraction (20-60 % measured). Between the two, nothing is claimed.
ONCE_ROUNDED_MAX = 0.01
STEPWISE_MIN = 0.10


def variance_computation(ev: Sequence[Evidence], conv: bn.Conventions,
                         eps_default: float | None) -> Finding:
    """Two-pass (or Welford) batch variance, or one-pass E[x^2] - E[x]^2: told apart on
    badly conditioned cases, where the one-pass formula cancels digits away."""
    dtypes = ("float32", "float64")
    bands = _classify(ev, dtypes, conv, eps_default, _case_band, one_pass_band,
                      ill_conditioned=True)
    return _banded("variance_computation", dtypes, bands, "two_pass", "one_pass",
                   "a variance computed")


def one_pass_band(e: Evidence, key: str = "y_train") -> Tolerance:
    """The case's bound had its variance been computed in one pass."""
    band = precision_band(e.case, one_pass=True)
    return tolerance_for(dataclasses.replace(e.case, tolerance=band), key)


def output_precision(ev: Sequence[Evidence], conv: bn.Conventions,
                     eps_default: float | None) -> Finding:
    """On half inputs: the normalized output computed in float32 and rounded once, or
    rounded more than once (step by step in the input's dtype).

    Rounded once, an element is within half a unit in the last place of the exact value
    (``u * |y|``) plus the float32 pipeline's error; the case's tolerance is looser (it
    allows a mean stored in the half dtype), so it cannot tell the two apart. The fraction
    of elements beyond that bound can."""
    once: list[str] = []
    stepwise: list[str] = []
    between: list[str] = []
    ids: dict[str, float] = {}
    for e in ev:
        if e.case.dtype not in ("float16", "bfloat16") or "y_train" not in e.outputs or (
                is_special(e) or (e.case.get("epsilon") == "default" and eps_default is None)):
            continue
        exp = bn.training_output(e.inputs["train"][0], e.case.channel_axis,
                                 epsilon_of(e.case, eps_default or 0.0), e.inputs["gamma"],
                                 e.inputs["beta"], conv)
        got = np.asarray(e.outputs["y_train"][0], dtype=np.float64)
        if not compare(got, exp, stepwise_band(e)).passed:
            between.append(e.case.id)  # beyond any rounding: the formula is not this one
            continue
        bound = (unit_roundoff(e.case.dtype) * (1 + 1e-6) * np.abs(exp)
                 + 4 * unit_roundoff("float32") * (GAMMA_MAX * Z_MAX + BETA_MAX))
        frac = float(np.mean(np.abs(got - exp) > bound))
        ids[e.case.id] = frac
        refuted = not compare(got, exp, tolerance(e, "y_train")).passed
        (stepwise if refuted or frac >= STEPWISE_MIN else
         once if frac <= ONCE_ROUNDED_MAX else between).append(e.case.id)
    fracs = ", ".join(f"{c} {f:.1%}" for c, f in ids.items())
    if not (once or stepwise or between):
        return Finding("output_precision_half", "not_measured", note="no half-precision case")
    if stepwise and not between:
        return Finding("output_precision_half", "input_dtype", stepwise[:6],
                       note=f"not rounded once: elements beyond half an ulp: {fracs}")
    if once and not stepwise and not between:
        return Finding("output_precision_half", "float32", once[:6],
                       note=f"rounded once: elements beyond half an ulp: {fracs}")
    return Finding("output_precision_half", "inconclusive", between[:6],
                   note=f"elements beyond half an ulp: {fracs} (once-rounded leaves at most "
                        f"{ONCE_ROUNDED_MAX:.0%}, step by step at least {STEPWISE_MIN:.0%})")


def _case_band(e: Evidence) -> Tolerance:
    return tolerance(e, "y_train")


def stepwise_band(e: Evidence, key: str = "y_train") -> Tolerance:
    """The case's bound widened by the roundings of a step-by-step half-precision output."""
    return stepwise_half(tolerance(e, key), e.case.dtype)


def narrow_band(e: Evidence, key: str = "y_train") -> Tolerance:
    """The bound had the statistics been accumulated in float32 (float64 inputs), or by a
    running sum in the input's own half dtype (with a step-by-step output)."""
    if e.case.dtype == "float64":
        band = precision_band(e.case, "float32")
        return tolerance_for(dataclasses.replace(e.case, tolerance=band), key)
    band = precision_band(e.case, e.case.dtype, sequential=True)
    return stepwise_half(tolerance_for(dataclasses.replace(e.case, tolerance=band), key),
                         e.case.dtype)


def trigger(ev: Sequence[Evidence]) -> Finding:
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
    notes = {"beta": "x - mean is 0 for a single sample: the normalized output is beta",
             "zeros": "every output is 0", "nan": "every output is NaN",
             "identity": "the input comes back unchanged"}
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
    return Finding("batch_size_one_training", value, [e.case.id], note=notes.get(value, ""))


def frozen(ev: Sequence[Evidence], conv: bn.Conventions, eps_default: float | None) -> Finding:
    """A fresh layer with trainable=False called in training mode: which statistics?"""
    for e in ev:
        if "frozen_train" not in e.outputs or e.case.get("momentum") != "default" or (
                e.case.get("epsilon") == "default" and eps_default is None):
            continue
        x = e.inputs["train"][0]
        eps = epsilon_of(e.case, eps_default or 0.0)
        c = np.ones(e.case.channels)
        tol = tolerance(e, "frozen_train")
        as_inference = bn.normalize(x, e.case.channel_axis, 0 * c, c, eps, e.inputs["gamma"],
                                    e.inputs["beta"], conv)
        as_training = bn.training_output(x, e.case.channel_axis, eps, e.inputs["gamma"],
                                         e.inputs["beta"], conv)
        r_inf = ratio(e.outputs["frozen_train"], as_inference, tol)
        r_tr = ratio(e.outputs["frozen_train"], as_training, tol)
        residuals = {"inference": f"error/tol {r_inf:.3g}", "training": f"error/tol {r_tr:.3g}"}
        if (r_inf <= 1) == (r_tr <= 1):
            return Finding("frozen_layer_mode", "inconclusive", [e.case.id], residuals,
                           "the frozen output fits both or neither")
        value = "inference" if r_inf <= 1 else "training"
        return Finding("frozen_layer_mode", value, [e.case.id], residuals)
    return Finding("frozen_layer_mode", "not_measured", note="the API has no trainable flag")
