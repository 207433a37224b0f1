"""Elementwise comparison against the oracle, in units of the case's tolerance.

A tolerance's ``rtol`` and ``atol`` are floats or arrays that broadcast against
the compared arrays (per-channel bounds, see ``conformance.cases.tolerances``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.cases.model import Tolerance


@dataclass(frozen=True)
class Comparison:
    max_abs: float
    max_rel: float
    ratio: float  # max over elements of |err| / (atol + rtol*|expected|); <= 1 passes

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0


Bound = float | np.ndarray


def _fit(bound: Bound, shape: tuple[int, ...]) -> Bound:
    """``bound`` as it broadcasts against ``shape`` (leading axes of length 1 it has beyond
    them dropped), or its largest value when it does not fit (an output of another shape
    than the case promised is compared against the worst bound, never crashes)."""
    if np.ndim(bound) == 0:
        return float(bound)
    b = np.asarray(bound, dtype=np.float64)
    while b.ndim > len(shape) and b.shape[0] == 1:
        b = b[0]
    try:
        if np.broadcast_shapes(b.shape, shape) == shape:
            return b
    except ValueError:
        pass
    return float(b.max())


def bounds(tol: Tolerance, shape: tuple[int, ...]) -> tuple[Bound, Bound]:
    """(rtol, atol) of ``tol`` ready to broadcast against an array of ``shape``."""
    return _fit(tol.rtol, shape), _fit(tol.atol, shape)


def compare(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> Comparison:
    """NaN matches NaN and inf matches inf of the same sign; any other non-finite fails."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Comparison(np.inf, np.inf, np.inf)
    rtol, atol = bounds(tol, e.shape)
    if a.size and np.isfinite(a).all() and np.isfinite(e).all():
        # The common case, kept cheap: inference compares thousands of candidates.
        with np.errstate(over="ignore"):
            err = np.abs(a - e)
        scale = np.abs(e)
        rel = err / np.where(scale > 0, scale, 1.0)
        return Comparison(float(err.max()), float(rel.max()),
                          float((err / (atol + rtol * scale)).max()))
    same_nonfinite = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same_nonfinite, 0.0, np.abs(a - e))
        err = np.where(np.isnan(err), np.inf, err)
        scale = np.abs(np.where(np.isfinite(e), e, 0.0))
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err)
        ratio = err / (atol + rtol * scale)
    if a.size == 0:
        return Comparison(0.0, 0.0, 0.0)
    return Comparison(float(err.max()), float(rel.max()), float(ratio.max()))


def ratio(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> float:
    """``compare(actual, expected, tol).ratio`` alone: fits score tens of thousands of
    candidates and read nothing else (the same operations, without the other maxima)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape == e.shape and a.size and np.isfinite(a).all() and np.isfinite(e).all():
        rtol, atol = bounds(tol, e.shape)
        with np.errstate(over="ignore"):
            err = np.abs(a - e)
        return float((err / (atol + rtol * np.abs(e))).max())
    return compare(a, e, tol).ratio


def ratios(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> list[float]:
    """``compare(actual, expected[k], tol).ratio`` for every k, as one array operation.

    Inference scores dozens of candidate outputs against one measured array; the
    finite ones share the vectorized path, the rest fall back to :func:`compare`.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    k = e.shape[0]
    if a.shape != e.shape[1:] or not a.size or not np.isfinite(a).all():
        return [ratio(a, e[i], tol) for i in range(k)]
    rtol, atol = bounds(tol, e.shape)
    finite = np.isfinite(e.reshape(k, -1)).all(axis=1)
    out: list[float] = [0.0] * k
    rows = np.flatnonzero(finite)
    if rows.size:
        sub = e if rows.size == k else e[rows]
        # In place: the same operations as compare(), on two arrays of K outputs, not six.
        with np.errstate(over="ignore"):
            err = np.subtract(a, sub)
            np.abs(err, out=err)
        bound = np.abs(sub)
        bound *= rtol
        bound += atol
        err /= bound
        worst = err.reshape(rows.size, -1).max(axis=1)
        for i, r in zip(rows.tolist(), worst.tolist(), strict=True):
            out[i] = r
    for i in np.flatnonzero(~finite).tolist():
        out[i] = ratio(a, e[i], tol)
    return out
