"""Grading a port: how close the target's own outputs come to the source's.

Four grades, best first. ``exact``: within the case's tolerance (the bound a numerically
sound implementation of the same formula may err by). ``float32``: beyond it, but within
``FLOAT32_ULPS`` units in the last place of float32 (two sound float32 implementations
summing in another order). ``approximate``: finite, and the worst relative error (to the
largest magnitude of the source's output) under ``APPROXIMATE_REL``. ``fails``: anything
else (NaN where the source has a number, another shape, a larger error). A port that
could not run at all has an outcome instead of a grade (``not run: <why>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from conformance.cases.model import Tolerance
from conformance.compare.errors import compare

GRADES: tuple[str, ...] = ("exact", "float32", "approximate", "fails")
# Rounding differences between two float32 implementations stay within a few ulps per
# operation; a normalization is about ten operations deep, a training step some more.
FLOAT32_ULPS = 64
# A continued training run whose statistics differ by a few percent is still usable
# (e.g. a biased instead of an unbiased running variance on batches of 16 or more).
APPROXIMATE_REL = 0.05


@dataclass(frozen=True)
class Grade:
    """One comparison's grade, with the figures that justify it."""

    grade: str
    case: str = ""
    output: str = ""
    max_abs: float = 0.0
    max_rel: float = 0.0
    ulps: float = 0.0

    @property
    def rank(self) -> int:
        return GRADES.index(self.grade)

    def describe(self) -> str:
        where = f" ({self.output} of {self.case})" if self.case else ""
        if self.grade == "exact":
            return "exact within the case tolerance"
        if self.grade == "float32":
            return (f"equal within float32 precision: {self.ulps:.0f} ulps of the largest "
                    f"output{where}")
        if self.grade == "approximate":
            return f"approximate: worst relative error {self.max_rel:.3g}{where}"
        return (f"fails: max abs err {self.max_abs:.3g}, relative {self.max_rel:.3g}"
                f"{where}")

    def to_json(self) -> dict[str, object]:
        return {"grade": self.grade, "case": self.case, "output": self.output,
                "max_abs": self.max_abs, "max_rel": self.max_rel, "ulps": self.ulps,
                "text": self.describe()}


def float32_ulps(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest |actual - expected| in float32 ulps of the largest magnitude of
    ``expected``: the outputs near zero of a normalization carry the absolute rounding
    error of its larger ones, so the array's scale, not each element's, is the unit."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    spacing = float(np.spacing(np.float32(np.abs(e).max())))
    return float(np.abs(a - e).max() / spacing) if spacing > 0 else float("inf")


def grade(actual: np.ndarray, expected: np.ndarray, tol: Tolerance, case: str = "",
          output: str = "") -> Grade:
    """The grade of one output of one case."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    c = compare(a, e, tol)
    if a.shape != e.shape or not np.isfinite(c.max_abs):
        return Grade("fails", case, output, float("inf"), float("inf"), float("inf"))
    ulps = float32_ulps(a, e)
    top = float(np.abs(e).max()) if e.size else 0.0
    rel = c.max_abs / top if top > 0 else (0.0 if c.max_abs == 0 else float("inf"))
    if c.passed:
        return Grade("exact", case, output, c.max_abs, rel, ulps)
    if ulps <= FLOAT32_ULPS:
        return Grade("float32", case, output, c.max_abs, rel, ulps)
    kind = "approximate" if rel <= APPROXIMATE_REL else "fails"
    return Grade(kind, case, output, c.max_abs, rel, ulps)


def worst(grades: Iterable[Grade]) -> Grade | None:
    """The worst grade; among equals, the largest error (what the verdict reports)."""
    items = list(grades)
    if not items:
        return None
    return max(items, key=lambda g: (g.rank, g.ulps if g.grade == "float32" else g.max_rel))
