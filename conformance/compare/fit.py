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

    def to_json(self) -> dict[str, Any]:
        return {"behaviour": self.behaviour, "actual": self.actual, "evidence": self.evidence,
                "residuals": self.residuals, "note": self.note}


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


def marginal(scored: Sequence[tuple[Candidate, Score]], behaviour: str, actual_key: str,
             render: Callable[[Any], str] = str) -> Finding:
    """The finding for ``actual_key`` of the fitted candidates, reported as ``behaviour``.

    When every value scores the same, the evidence cannot tell them apart and
    the finding is ``inconclusive`` rather than a guess.
    """
    best_by_value: dict[str, Score] = {}
    for cand, sc in scored:
        value = render(cand[actual_key])
        if value not in best_by_value:
            best_by_value[value] = sc
    residuals = {v: s.describe() for v, s in best_by_value.items()}
    if not scored or scored[0][1].total == 0:
        return Finding(behaviour, "not_measured", [], residuals, "no evidence cases ran")
    best_cand, best = scored[0]
    value = render(best_cand[actual_key])
    others = [s for v, s in best_by_value.items() if v != value]
    tied = sorted(v for v, s in best_by_value.items() if v != value and s.key() == best.key())
    if tied:
        return Finding(behaviour, "inconclusive", [], residuals,
                       f"the cases cannot tell {', '.join([value, *tied])} apart")
    if best.fits == 0:
        return Finding(behaviour, "inconclusive", [], residuals,
                       "no candidate convention fits any evidence case")
    if 2 * best.fits < best.total:
        return Finding(behaviour, "inconclusive", list(best.fitting_cases)[:6], residuals,
                       f"the best candidate ({value}) fits only {best.fits}/{best.total} cases: "
                       "the implementation computes something outside the convention space")
    runner_up = set().union(*(set(s.fitting_cases) for s in others)) if others else set()
    decisive = [c for c in best.fitting_cases if c not in runner_up]
    evidence = (decisive or list(best.fitting_cases))[:6]
    misfits = best.total - best.fits
    note = f"{misfits} evidence case(s) fit no candidate" if misfits else ""
    return Finding(behaviour, value, evidence, residuals, note)
