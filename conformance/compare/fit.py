"""Fitting a discrete convention space to measured outputs.

A candidate is a dict of convention values. Each evidence case gives it a
ratio (max error over tolerance; <= 1 fits). Candidates are ranked by how many
cases they fit, then by their median log-ratio; the residual table of every
behaviour value (its best candidate's score) is kept so the report can show
why a value won.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Candidate = dict[str, Any]


@dataclass(frozen=True)
class Score:
    fits: int
    total: int
    median_ratio: float
    fitting_cases: tuple[str, ...]

    def key(self) -> tuple[int, float]:
        return (-self.fits, self.median_ratio)

    def describe(self) -> str:
        return f"{self.fits}/{self.total} cases fit, median error/tol {self.median_ratio:.3g}"


@dataclass
class Finding:
    """The inferred value of one behaviour, with what decided it."""

    behaviour: str
    actual: str
    evidence: list[str] = field(default_factory=list)
    residuals: dict[str, str] = field(default_factory=dict)
    note: str = ""
    # A numeric value at full precision (``actual`` is rounded for the reports): a default
    # momentum measured as 0.99000000953 is what a float32 decay makes of 0.99.
    exact: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"behaviour": self.behaviour, "actual": self.actual, "evidence": self.evidence,
                "residuals": self.residuals, "note": self.note, "exact": self.exact}


def grid(space: Mapping[str, Sequence[Any]]) -> list[Candidate]:
    keys = list(space)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(space[k] for k in keys))]


def score(ratios: Mapping[str, float]) -> Score:
    finite = sorted(min(r, 1e300) for r in ratios.values())
    med = finite[len(finite) // 2] if finite else math.inf
    fitting = tuple(sorted(cid for cid, r in ratios.items() if r <= 1.0))
    return Score(len(fitting), len(ratios), med, fitting)


def fit(candidates: Iterable[Candidate],
        evaluate: Callable[[Candidate], Mapping[str, float]]) -> list[tuple[Candidate, Score]]:
    """Score every candidate; best first (stable: earlier candidates win ties)."""
    scored = [(c, score(evaluate(c))) for c in candidates]
    return sorted(scored, key=lambda cs: cs[1].key())


def _key(cand: Candidate) -> frozenset[tuple[str, Any]]:
    return frozenset(cand.items())


def marginal(scored: Sequence[tuple[Candidate, Score]], behaviour: str, actual_key: str,
             render: Callable[[Any], str] = str) -> Finding:
    """The finding for ``actual_key`` of the fitted candidates, reported as ``behaviour``.

    A value is reported only when it is *earned*: its best candidate fits at least as
    many cases as the best candidate of every other value, and fits at least one case
    (a decisive case) that no rival fits. Rivals of a case are the best candidate of
    each other value, and the winner itself with only this behaviour changed (so a
    case counts only if it tells this behaviour apart, the others held fixed).
    Median errors are reported, never used to break a tie: rounding noise decides
    nothing. Otherwise the finding is ``inconclusive`` and names the tied values.
    """
    best_by_value: dict[str, tuple[Candidate, Score]] = {}
    for cand, sc in scored:
        value = render(cand[actual_key])
        if value not in best_by_value or sc.fits > best_by_value[value][1].fits:
            best_by_value[value] = (cand, sc)
    residuals = {v: s.describe() for v, (_, s) in best_by_value.items()}
    if not scored or scored[0][1].total == 0:
        return Finding(behaviour, "not_measured", [], residuals, "no evidence cases ran")
    top = max(s.fits for _, s in best_by_value.values())
    if top == 0:
        return Finding(behaviour, "inconclusive", [], residuals,
                       "no candidate convention fits any evidence case")
    leaders = sorted(v for v, (_, s) in best_by_value.items() if s.fits == top)
    if len(leaders) > 1:
        return Finding(behaviour, "inconclusive", [], residuals,
                       f"the cases cannot tell {', '.join(leaders)} apart "
                       f"(each fits {top} of {scored[0][1].total})")
    value = leaders[0]
    cand, best = best_by_value[value]
    if 2 * best.fits < best.total:
        return Finding(behaviour, "inconclusive", list(best.fitting_cases)[:6], residuals,
                       f"the best candidate ({value}) fits only {best.fits}/{best.total} cases: "
                       "the implementation computes something outside the convention space")
    by_key = {_key(c): s for c, s in scored}
    rivals: set[str] = set()
    for other, (_, osc) in best_by_value.items():
        if other == value:
            continue
        rivals |= set(osc.fitting_cases)
        for c, _ in scored:  # the winner with only this behaviour changed
            if render(c[actual_key]) == other:
                swapped = by_key.get(_key({**cand, actual_key: c[actual_key]}))
                if swapped is not None:
                    rivals |= set(swapped.fitting_cases)
                break
    decisive = [c for c in best.fitting_cases if c not in rivals]
    if len(best_by_value) > 1 and not decisive:
        others = ", ".join(v for v in sorted(best_by_value) if v != value)
        return Finding(behaviour, "inconclusive", [], residuals,
                       f"{value} fits {best.fits}/{best.total} cases, but every one of them "
                       f"also fits {others}: no case tells them apart")
    misfits = best.total - best.fits
    note = f"{misfits} evidence case(s) fit no candidate" if misfits else ""
    return Finding(behaviour, value, decisive[:6], residuals, note)
