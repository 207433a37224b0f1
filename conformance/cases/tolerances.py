"""Per-channel tolerances: the error a numerically sound implementation can make.

A channel's bound follows its own conditioning, so one ill-conditioned channel
(a near-constant one, a mean far from zero) does not blind the checks of the
others. The model, per channel with mean ``mu``, standard deviation ``sigma``
(the case's draw parameters), ``n`` values per channel and the smallest
epsilon that can be in effect:

* statistics are accumulated with unit roundoff ``u`` (the input's own, or
  float32 for half-precision inputs: a framework that accumulates half values
  in half precision must fail a long reduction, see ``stats_precision_*``);
  a sum of ``n`` values errs by about ``u * growth(n) * max|x|``;
* the variance is two-pass (or Welford): its error is ``u * growth(n) * sigma**2``
  plus the square of the mean's error, not ``u * mu**2`` as a one-pass
  ``E[x^2] - E[x]^2`` would make (such an implementation fails the
  badly-conditioned cases, which is a finding, not noise);
* the normalized output divides by ``s = sqrt(sigma**2 + eps)``: the mean's
  error is amplified by ``1/s``, the variance's by ``|x - mu| / s**3``, so a
  channel where epsilon dominates the variance is insensitive to it;
* half-precision outputs are computed in float32 and rounded to the dtype
  (``HALF_ROUNDINGS`` roundings relative to the output, and to beta where
  gamma times the normalized value cancels against it), and the mean may be
  stored in the dtype. An implementation that normalizes step by step in half
  precision rounds more often and may fail: its precision, not noise.

``SAFETY`` leaves room for a different but sound summation order; anything
beyond it is a different formula or precision, which is what the suite names.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from conformance.cases.model import (
    DECISIVE_TOLERANCE,
    HALF_DTYPES,
    Case,
    Tolerance,
    unit_roundoff,
)

SAFETY = 8.0
Z_MAX = 5.0  # |x - mu| / sigma of the largest standard-normal draw the cases make
GAMMA_MAX, BETA_MAX = 2.0, 1.0  # ranges inputs_for draws gamma and beta from
DEFAULT_EPSILON_MIN = 1e-5  # the smallest default epsilon of any framework (torch, MXNet)
HALF_ROUNDINGS = 2.0  # roundings to a half dtype on the way to an output

# Output key -> (channel group, leading axes before the case's own shape); None: (steps, C).
KEY_LAYOUT: dict[str, tuple[str, int | None]] = {
    "y_train": ("output", 1), "y_eval": ("inference", 0), "frozen_train": ("output", 0),
    "running_mean": ("running_mean", None), "running_var": ("running_var", None),
    "mean_after_forward": ("running_mean", -1), "mean_after_backward": ("running_mean", -1),
}


def growth(n: int) -> float:
    """Roundoff growth of an n-term sum: sqrt(n) for sequential loops (their errors add
    like a random walk), log2(n) for pairwise ones; the sum covers both."""
    return math.sqrt(max(n, 1)) + math.log2(max(n, 2))


def accumulation_dtype(dtype: str) -> str:
    return "float32" if dtype in HALF_DTYPES else dtype


def initial_weight(momentum: float | str, steps: int) -> float:
    """The smallest weight the initial running variance (1) can keep after ``steps``
    updates by the case's momentum argument, under either convention: 0 when one update
    can replace it (momentum 0 or 1, or a cumulative average)."""
    if momentum == "none":
        return 0.0
    m = 0.1 if momentum == "default" else float(momentum)  # defaults: 0.1 to 0.99, either way
    return min(m, 1.0 - m) ** max(steps, 1)


def smallest_epsilon(epsilon: float | str) -> float:
    """The smallest epsilon that can be in effect: a floor only raises it."""
    return DEFAULT_EPSILON_MIN if epsilon == "default" else float(epsilon)


def channel_tolerance(dtype: str, n: int, means: npt.ArrayLike, stds: npt.ArrayLike,
                      epsilon: float, *, variance_normalized: bool = True,
                      initial_weight: float = 1.0, accumulate: str | None = None,
                      sequential: bool = False, one_pass: bool = False) -> Tolerance:
    """Per-channel bounds of each output group, and their worst case as ``rtol``/``atol``.

    ``accumulate`` overrides the accumulator's dtype and ``sequential`` the growth (n for a
    running sum): the bands in which ``stats_precision_*`` places a narrower accumulator;
    ``one_pass``: the band of a variance computed as E[x^2] - E[x]^2."""
    u = unit_roundoff(accumulate or accumulation_dtype(dtype))
    half = dtype in HALF_DTYPES
    uo = unit_roundoff(dtype) if half else 0.0
    g = float(max(n, 1)) if sequential else growth(n)
    mu = np.abs(np.asarray(means, dtype=np.float64))
    sigma = np.asarray(stds, dtype=np.float64)
    # The terms summed are ~|mu| + sigma in size (Z_MAX bounds one element, not a sum).
    d_mean = u * g * (mu + sigma)
    # A one-pass variance, E[x^2] - E[x]^2, cancels two sums of size mu^2 + sigma^2.
    d_var = (2 * u * g * (mu**2 + sigma**2) if one_pass else u * g * sigma**2) + d_mean**2
    s2 = sigma**2 + epsilon
    with np.errstate(divide="ignore", invalid="ignore"):
        if variance_normalized:
            s = np.sqrt(s2)
            z = Z_MAX * sigma / s  # the largest normalized value
            err = GAMMA_MAX * (d_mean / s + 0.5 * d_var / s2 * z)
            # A half-precision implementation may store the mean in its dtype (Keras casts
            # the moments back before normalizing); the stored variance's rounding is
            # relative to gamma times the normalized value, which rtol covers.
            stored = uo * GAMMA_MAX * mu / s
        else:  # mean-only centering: x - mean + beta
            err, stored = d_mean, uo * mu
    out_atol = SAFETY * (err + u * BETA_MAX) + stored + HALF_ROUNDINGS * uo * BETA_MAX
    out_rtol = np.full_like(mu, SAFETY * u + HALF_ROUNDINGS * uo)
    # Running statistics: the batch statistic's error, the update's roundings. In a half
    # dtype the two terms of an update are rounded relative to their own size, which is
    # the size of the result except where the mean's sign wavers around zero.
    mean_size = mu + Z_MAX * sigma / math.sqrt(max(n, 1))
    mean_atol = SAFETY * (d_mean + u * mean_size) + HALF_ROUNDINGS * uo * mean_size
    var_atol = SAFETY * (d_var + u * (1.0 + sigma**2))
    stat_rtol = np.full_like(mu, SAFETY * u * g + HALF_ROUNDINGS * uo)
    # Inference normalizes with the running statistics: their errors (the update's
    # roundings, of the initial variance of 1 included) propagate as the batch's do, but
    # relative to the running variance, which keeps ``initial_weight`` of that 1.
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = initial_weight + (1.0 - initial_weight) * sigma**2 + epsilon
        run_err = (GAMMA_MAX * (mean_atol + 0.5 * var_atol / r2 * Z_MAX * sigma) / np.sqrt(r2)
                   if variance_normalized else mean_atol)
    inf_atol = out_atol + run_err
    out_atol = np.where(np.isfinite(out_atol), out_atol, np.inf)
    inf_atol = np.where(np.isfinite(inf_atol), inf_atol, np.inf)
    groups = (("output", out_rtol, out_atol), ("inference", out_rtol, inf_atol),
              ("running_mean", stat_rtol, mean_atol), ("running_var", stat_rtol, var_atol))
    channels = tuple((name, tuple(float(v) for v in r), tuple(float(v) for v in a))
                     for name, r, a in groups)
    worst_r = max(max(r) for _, r, _ in channels)
    worst_a = max(max(a) for _, _, a in channels)
    return Tolerance(worst_r, worst_a, channels)


# Roundings of an output computed step by step in a half dtype: x - mean, times the inverse
# deviation, times gamma, plus beta (or TensorFlow's x * inv + (beta - mean * inv)), each
# rounded relative to its own size, which can exceed the output's (cancellation with beta).
STEP_ROUNDINGS = 8.0


def stepwise_half(tol: Tolerance, dtype: str) -> Tolerance:
    """``tol`` widened by the roundings of an output computed step by step in ``dtype``."""
    uo = unit_roundoff(dtype)
    size = GAMMA_MAX * Z_MAX + BETA_MAX
    return Tolerance(np.asarray(tol.rtol) + STEP_ROUNDINGS * uo,
                     np.asarray(tol.atol) + STEP_ROUNDINGS * uo * size)


def elementwise_tolerance(dtype: str, roundings: float = 8.0) -> Tolerance:
    """A few roundings of an elementwise op (dropout's scaling) in the case's dtype."""
    u = unit_roundoff(dtype)
    return Tolerance(roundings * u, roundings * u)


def is_decisive(tol: Tolerance) -> bool:
    return tol.worst <= DECISIVE_TOLERANCE


@functools.lru_cache(maxsize=4096)
def tolerance_for(case: Case, key: str) -> Tolerance:
    """The bound for output ``key`` of ``case``, as arrays that broadcast against it.

    Shapes: ``y_train`` (steps, *shape), ``y_eval`` and ``frozen_train`` (shape),
    ``running_mean``/``running_var`` (steps, C), ``mean_after_*`` (C,); the bound
    varies along the channel axis only. Keys without channels (dropout) and cases
    without per-channel bounds get ``case.tolerance``.
    """
    groups = {g: (r, a) for g, r, a in case.tolerance.channels}
    if "inference" not in groups and "output" in groups:  # a manifest from before it
        groups["inference"] = groups["output"]
    layout = KEY_LAYOUT.get(key)
    if layout is None or layout[0] not in groups:
        return case.tolerance
    group, lead = layout
    if lead is None:
        shape = [1, -1]
    elif lead < 0:
        shape = [-1]
    else:
        shape = [1] * (lead + len(case.shape))
        shape[lead + case.channel_axis] = -1
    r, a = (np.asarray(v, dtype=np.float64).reshape(shape) for v in groups[group])
    r.flags.writeable = a.flags.writeable = False  # shared through the cache
    return Tolerance(r, a)
