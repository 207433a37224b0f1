"""Batch normalization (and mean-only centering) in float64 under any convention.

Every convention a framework or its documentation could follow is an explicit
field of :class:`Conventions`; nothing here knows about any framework. The
same functions serve the oracle rows, behaviour inference and the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

MOMENTUM_CONVENTIONS = ("weight_on_old", "weight_on_new", "cumulative_average")
VARIANCE_ESTIMATORS = ("biased", "unbiased")
RUNNING_VARIANCE_UPDATES = ("biased", "unbiased", "not_updated")
EPSILON_PLACEMENTS = ("inside_sqrt", "outside_sqrt", "no_sqrt")
TRIGGERS = ("forward", "backward", "never")
INFERENCE_STATISTICS = ("running", "batch")
# Precision in which a hyperparameter reaches the arithmetic (spec: momentum_precision,
# epsilon_precision). "float32_complement": 1 - momentum is formed exactly and then rounded
# to float32, which is what a moving-average *decay* kept as a float32 tensor amounts to.
MOMENTUM_PRECISIONS = ("as_given", "float32", "float32_complement")
EPSILON_PRECISIONS = ("as_given", "float32")


@dataclass(frozen=True)
class Conventions:
    """One point of the convention space."""

    momentum_convention: str = "weight_on_old"
    normalize_variance: str = "biased"
    running_variance_update: str = "unbiased"
    epsilon_placement: str = "inside_sqrt"
    epsilon_floor: float | None = None  # epsilon_effective = clamped_to:<floor>
    gamma_applied: bool = True
    offset_applied: bool = True
    variance_normalized: bool = True  # False: mean-only centering
    stats_update_trigger: str = "forward"  # "never": running statistics stay at init
    inference_statistics: str = "running"
    momentum_precision: str = "as_given"
    epsilon_precision: str = "as_given"

    def with_(self, **changes: object) -> Conventions:
        return replace(self, **changes)  # type: ignore[arg-type]


def reduce_axes(ndim: int, channel_axis: int) -> tuple[int, ...]:
    return tuple(a for a in range(ndim) if a != channel_axis)


def batch_moments(x: np.ndarray, channel_axis: int,
                  grouped: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel mean and biased variance (two-pass, float64) and the count per channel.

    ``grouped``: the first axis of ``x`` indexes independent batches of equal size (ghost
    batches), ``channel_axis`` counts within one of them, and the moments are (G, C): each
    batch's, by the same reductions as one call per batch."""
    x = np.asarray(x, dtype=np.float64)
    lead = 1 if grouped else 0
    axes = tuple(a + lead for a in reduce_axes(x.ndim - lead, channel_axis))
    n = x.size // (x.shape[channel_axis + lead] * (x.shape[0] if grouped else 1))
    # sum / n rather than mean(): the same rounding, without mean()'s per-call overhead,
    # which dominated behaviour inference (thousands of calls on small arrays).
    mean = x.sum(axis=axes) / n
    centred = x - mean.reshape(_channel_shape(x.ndim, channel_axis,
                                              x.shape[0] if grouped else 0))
    var = (centred * centred).sum(axis=axes) / n
    return mean, var, n


def _channel_shape(ndim: int, channel_axis: int, groups: int = 0) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector along ``channel_axis`` (cheaper than
    ``np.expand_dims``, which inference calls tens of thousands of times); ``groups`` > 0:
    a (groups, C) array along a leading group axis (``ndim`` counts it)."""
    if groups:
        return (groups, *_channel_shape(ndim - 1, channel_axis))
    return tuple(-1 if a == channel_axis else 1 for a in range(ndim))


def unbias(var: np.ndarray, n: int) -> np.ndarray:
    """Bessel's correction; n == 1 gives inf or nan, as the arithmetic does."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return var * n / (n - 1) if n > 1 else var * np.inf


def _float32(value: float) -> float:
    return float(np.float32(value))


def applied_momentum(momentum: float, conv: Conventions) -> float:
    """The momentum the arithmetic sees, in the caller's convention, after rounding."""
    if conv.momentum_precision == "as_given":
        return momentum
    if conv.momentum_precision == "float32":
        return _float32(momentum)
    if conv.momentum_precision == "float32_complement":
        return 1.0 - _float32(1.0 - momentum)
    raise ValueError(f"unknown momentum precision {conv.momentum_precision!r}")


def effective_epsilon(eps: float, conv: Conventions) -> float:
    """The epsilon added, after its precision and any floor (the floor compares the
    rounded value, as a kernel that receives a float32 attribute would)."""
    if conv.epsilon_precision == "float32":
        eps = _float32(eps)
    elif conv.epsilon_precision != "as_given":
        raise ValueError(f"unknown epsilon precision {conv.epsilon_precision!r}")
    return max(eps, conv.epsilon_floor) if conv.epsilon_floor is not None else eps


def denominator(var: np.ndarray, eps: float, conv: Conventions) -> np.ndarray:
    """Per-channel divisor of the normalization; ``eps`` is already the effective epsilon."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if not conv.variance_normalized:
            return np.ones_like(np.asarray(var, dtype=np.float64))
        if conv.epsilon_placement == "inside_sqrt":
            return np.asarray(np.sqrt(var + eps))
        if conv.epsilon_placement == "outside_sqrt":
            return np.asarray(np.sqrt(var) + eps)
        if conv.epsilon_placement == "no_sqrt":
            return np.asarray(var + eps)
    raise ValueError(f"unknown epsilon placement {conv.epsilon_placement!r}")


def epsilon_from_denominator(denom: float, var: float, placement: str) -> float:
    """The inverse of :func:`denominator` in eps: which epsilon gives divisor ``denom``."""
    if placement == "inside_sqrt":
        return denom * denom - var
    if placement == "outside_sqrt":
        return denom - float(np.sqrt(var))
    if placement == "no_sqrt":
        return denom - var
    raise ValueError(f"unknown epsilon placement {placement!r}")


def normalize(x: np.ndarray, channel_axis: int, mean: np.ndarray, var: np.ndarray,
              eps: float, gamma: np.ndarray, beta: np.ndarray,
              conv: Conventions) -> np.ndarray:
    """Apply (x - mean) / denominator * gamma + beta along ``channel_axis``."""
    x = np.asarray(x, dtype=np.float64)
    shape = _channel_shape(x.ndim, channel_axis)

    def bc(v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float64).reshape(shape)

    denom = denominator(var, effective_epsilon(eps, conv), conv)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (x - bc(mean)) / bc(denom)
    if conv.gamma_applied:
        y = y * bc(gamma)
    if conv.offset_applied:
        y = y + bc(beta)
    return np.asarray(y)


def inference(x: np.ndarray, mean: np.ndarray, var: np.ndarray, gamma: np.ndarray,
              beta: np.ndarray, epsilon: float, conv: Conventions,
              channel_axis: int) -> np.ndarray:
    """A layer in inference mode, from its exported variables (running ``mean`` and
    ``var``, ``gamma``, ``beta``) and ``epsilon`` as passed to the layer.

    The oracle's own inference step (``sequence`` calls it), and the function the report
    shows and porting exports (``oracle.predictor``): one copy of the maths. A layer that
    normalizes with the batch statistics even in inference ignores ``mean`` and ``var``.
    """
    if conv.inference_statistics == "batch":
        return training_output(x, channel_axis, epsilon, gamma, beta, conv)
    return normalize(x, channel_axis, mean, var, epsilon, gamma, beta, conv)


def update(old: np.ndarray, batch: np.ndarray, momentum: float | None, step: int,
           convention: str) -> np.ndarray:
    """One running-statistic update; ``step`` counts from 1; momentum None = cumulative."""
    if convention == "cumulative_average" or momentum is None:
        return np.asarray(old + (batch - old) / step)
    if convention == "weight_on_old":
        return momentum * old + (1.0 - momentum) * batch
    if convention == "weight_on_new":
        return (1.0 - momentum) * old + momentum * batch
    raise ValueError(f"unknown momentum convention {convention!r}")


def training_output(x: np.ndarray, channel_axis: int, eps: float, gamma: np.ndarray,
                    beta: np.ndarray, conv: Conventions,
                    moments: tuple[np.ndarray, np.ndarray, int] | None = None) -> np.ndarray:
    """``moments``: ``batch_moments(x, channel_axis)`` when the caller already has them
    (inference tries dozens of conventions on the same batch)."""
    mean, var, n = moments if moments is not None else batch_moments(x, channel_axis)
    if conv.normalize_variance == "unbiased":
        var = unbias(var, n)
    return normalize(x, channel_axis, mean, var, eps, gamma, beta, conv)


def training_outputs(x: np.ndarray, channel_axis: int,
                     variants: Sequence[tuple[float, Conventions]], gamma: np.ndarray,
                     beta: np.ndarray,
                     moments: tuple[np.ndarray, np.ndarray, int] | None = None,
                     grouped: bool = False) -> np.ndarray:
    """``training_output`` under each (eps, conventions) variant, stacked on a new first axis.

    The same elementwise arithmetic as one call per variant (so the same bits), in a
    few array operations: behaviour inference tries dozens of variants per batch.
    ``grouped``: ``x``'s first axis indexes independent batches (see ``batch_moments``),
    each normalized with its own statistics.
    """
    x = np.asarray(x, dtype=np.float64)
    mean, var, n = moments if moments is not None else batch_moments(x, channel_axis, grouped)
    shape = _channel_shape(x.ndim, channel_axis, x.shape[0] if grouped else 0)
    stacked = (len(variants), *shape)
    centred = x - np.asarray(mean, dtype=np.float64).reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = centred[None] / _denominators(var, n, variants).reshape(stacked)
    # gamma and beta broadcast from the right, past any group axis.
    per_channel = _channel_shape(x.ndim - (1 if grouped else 0), channel_axis)
    for flag, vector in (("gamma_applied", gamma), ("offset_applied", beta)):
        rows = np.array([bool(getattr(conv, flag)) for _, conv in variants], dtype=bool)
        if not rows.any():
            continue
        v = np.asarray(vector, dtype=np.float64).reshape(per_channel)
        if rows.all():  # in place: no new array of K outputs per step
            if flag == "gamma_applied":
                y *= v
            else:
                y += v
        else:
            y[rows] = y[rows] * v if flag == "gamma_applied" else y[rows] + v
    return np.asarray(y)


def _denominators(var: np.ndarray, n: int,
                  variants: Sequence[tuple[float, Conventions]]) -> np.ndarray:
    """``denominator`` of every variant's normalizing variance, one row each (K, C), or
    (K, G, C) for grouped variances: the same elementwise operations on stacked rows."""
    var = np.asarray(var, dtype=np.float64)
    unbiased = unbias(var, n) if any(c.normalize_variance == "unbiased"
                                     for _, c in variants) else var
    v = np.stack([unbiased if c.normalize_variance == "unbiased" else var
                  for _, c in variants])
    eps = np.array([effective_epsilon(e, c) for e, c in variants],
                   dtype=np.float64).reshape(len(variants), *(1,) * var.ndim)
    kinds = [c.epsilon_placement if c.variance_normalized else "none" for _, c in variants]
    out = np.ones_like(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind in dict.fromkeys(kinds):
            rows = np.array([k == kind for k in kinds], dtype=bool)
            if kind == "inside_sqrt":
                out[rows] = np.sqrt(v[rows] + eps[rows])
            elif kind == "outside_sqrt":
                out[rows] = np.sqrt(v[rows]) + eps[rows]
            elif kind == "no_sqrt":
                out[rows] = v[rows] + eps[rows]
            elif kind != "none":
                raise ValueError(f"unknown epsilon placement {kind!r}")
    return out


def running_statistics(train: np.ndarray, channel_axis: int, momentum: float | None,
                       conv: Conventions, init_mean: float | np.ndarray = 0.0,
                       init_var: float | np.ndarray = 1.0,
                       moments: Sequence[tuple[np.ndarray, np.ndarray, int]] | None = None,
                       start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Running mean and variance after each of the k steps (``sequence``'s trajectories)
    without the normalized outputs; ``moments``: ``batch_moments`` of each step if known.
    ``init_*`` may be per-channel (a loaded layer's state) and ``start`` the number of the
    first step (a cumulative average continued from ``start - 1`` earlier steps)."""
    c = train.shape[1:][channel_axis]
    if len(train) == 0:
        raise ValueError("need at least one training step")
    rm = np.full(c, init_mean, dtype=np.float64)
    rv = np.full(c, init_var, dtype=np.float64)
    rms = np.empty((len(train), c), dtype=np.float64)
    rvs = np.empty((len(train), c), dtype=np.float64)
    m = None if momentum is None else applied_momentum(momentum, conv)
    for i, x in enumerate(train):
        step = start + i
        mean, var, n = moments[i] if moments is not None else batch_moments(x, channel_axis)
        if conv.stats_update_trigger != "never":
            rm = update(rm, mean, m, step, conv.momentum_convention)
            if conv.running_variance_update != "not_updated":
                v = unbias(var, n) if conv.running_variance_update == "unbiased" else var
                rv = update(rv, v, m, step, conv.momentum_convention)
        rms[i] = rm
        rvs[i] = rv
    return rms, rvs


def sequence(train: np.ndarray, evaluate: np.ndarray, channel_axis: int, gamma: np.ndarray,
             beta: np.ndarray, momentum: float | None, eps: float, conv: Conventions,
             init_mean: float = 0.0, init_var: float = 1.0,
             moments: Sequence[tuple[np.ndarray, np.ndarray, int]] | None = None,
             ) -> dict[str, np.ndarray]:
    """k training steps (``train[i]``) then inference on ``evaluate``.

    Returns the same keys adapters return: y_train, running_mean, running_var, y_eval.
    ``moments``: ``batch_moments`` of each training step when the caller has them.
    """
    if moments is None:
        moments = [batch_moments(x, channel_axis) for x in train]  # once per step, not twice
    ys = [training_output(x, channel_axis, eps, gamma, beta, conv, m)
          for x, m in zip(train, moments, strict=False)]
    rms, rvs = running_statistics(train, channel_axis, momentum, conv, init_mean, init_var,
                                  moments)
    y_eval = inference(evaluate, rms[-1], rvs[-1], gamma, beta, eps, conv, channel_axis)
    return {"y_train": np.stack(ys), "running_mean": rms, "running_var": rvs,
            "y_eval": y_eval}
