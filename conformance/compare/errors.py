"""Elementwise comparison against the oracle, in units of the case's tolerance."""

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


def compare(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> Comparison:
    """NaN matches NaN and inf matches inf of the same sign; any other non-finite fails."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return Comparison(np.inf, np.inf, np.inf)
    if a.size and np.isfinite(a).all() and np.isfinite(e).all():
        # The common case, kept cheap: inference compares thousands of candidates.
        with np.errstate(over="ignore"):
            err = np.abs(a - e)
        scale = np.abs(e)
        rel = err / np.where(scale > 0, scale, 1.0)
        return Comparison(float(err.max()), float(rel.max()),
                          float((err / (tol.atol + tol.rtol * scale)).max()))
    same_nonfinite = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same_nonfinite, 0.0, np.abs(a - e))
        err = np.where(np.isnan(err), np.inf, err)
        scale = np.abs(np.where(np.isfinite(e), e, 0.0))
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err)
        ratio = err / (tol.atol + tol.rtol * scale)
    if a.size == 0:
        return Comparison(0.0, 0.0, 0.0)
    return Comparison(float(err.max()), float(rel.max()), float(ratio.max()))


def ratios(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> list[float]:
    """``compare(actual, expected[k], tol).ratio`` for every k, as one array operation.

    Inference scores dozens of candidate outputs against one measured array; the
    finite ones share the vectorized path, the rest fall back to :func:`compare`.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    k = e.shape[0]
    if a.shape != e.shape[1:] or not a.size or not np.isfinite(a).all():
        return [compare(a, e[i], tol).ratio for i in range(k)]
    finite = np.isfinite(e.reshape(k, -1)).all(axis=1)
    out: list[float] = [0.0] * k
    rows = np.flatnonzero(finite)
    if rows.size:
        sub = e if rows.size == k else e[rows]
        with np.errstate(over="ignore"):
            err = np.abs(a - sub)
        worst = (err / (tol.atol + tol.rtol * np.abs(sub))).reshape(rows.size, -1).max(axis=1)
        for i, r in zip(rows.tolist(), worst.tolist(), strict=True):
            out[i] = r
    for i in np.flatnonzero(~finite).tolist():
        out[i] = compare(a, e[i], tol).ratio
    return out
