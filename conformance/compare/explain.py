"""Mismatches no behaviour explains: suspected bugs, each with its smallest case.

Every MISMATCH check carries a ``cause`` (see :mod:`conformance.compare.checks`):
the behaviours whose documented and measured values differ, or ``unexplained``
when even the measured conventions do not reproduce the output. Unexplained
mismatches are grouped per implementation row; each group becomes one suspected
bug, shown with the smallest case that exhibits it (fewest input elements) so
the repro is short.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.cases.model import Case
from conformance.compare.checks import UNEXPLAINED

SUSPECTED_BUG_COLUMNS: tuple[str, ...] = (
    "framework", "framework_version", "implementation", "op", "mismatches", "cases",
    "smallest_case", "dtype", "shape", "checks", "max_abs_err", "max_rel_err", "tolerance",
)


@dataclass(frozen=True)
class SuspectedBug:
    """Unexplained mismatches of one implementation row."""

    framework: str
    version: str
    implementation: str
    op: str
    mismatches: int
    cases: tuple[str, ...]
    smallest: Case
    checks: tuple[dict[str, Any], ...]  # the failing checks on the smallest case

    def to_row(self) -> dict[str, Any]:
        worst = max(self.checks, key=lambda c: _float(c["max_rel_err"]))
        return {"framework": self.framework, "framework_version": self.version,
                "implementation": self.implementation, "op": self.op,
                "mismatches": self.mismatches, "cases": len(self.cases),
                "smallest_case": self.smallest.id, "dtype": self.smallest.dtype,
                "shape": "x".join(map(str, self.smallest.shape)),
                "checks": " ".join(c["check"] for c in self.checks),
                "max_abs_err": worst["max_abs_err"], "max_rel_err": worst["max_rel_err"],
                "tolerance": worst["tolerance"]}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _size(case: Case) -> int:
    return math.prod(case.shape) * case.steps


def unexplained(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in results if r["status"] == "MISMATCH" and r.get("cause") == UNEXPLAINED]


def suspected_bugs(results: Iterable[Mapping[str, Any]],
                   cases: Mapping[str, Case]) -> list[SuspectedBug]:
    """One entry per implementation row with unexplained mismatches, most mismatches first."""
    groups: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = {}
    for r in unexplained(results):
        key = (r["framework"], r["framework_version"], r["implementation"], r["op"])
        groups.setdefault(key, []).append(r)
    bugs = []
    for (fw, version, impl, op), rows in groups.items():
        ids = sorted({r["case_id"] for r in rows if r["case_id"] in cases})
        if not ids:
            continue
        smallest = min((cases[i] for i in ids), key=lambda c: (_size(c), c.id))
        checks = tuple(dict(r) for r in rows if r["case_id"] == smallest.id)
        bugs.append(SuspectedBug(fw, version, impl, op, len(rows), tuple(ids), smallest, checks))
    return sorted(bugs, key=lambda b: (-b.mismatches, b.framework, b.implementation))


@dataclass(frozen=True)
class FrameworkError:
    """A framework error that no behaviour names (a batch of one raising is
    ``batch_size_one_training = error``; this is everything else), grouped by message."""

    framework: str
    version: str
    implementation: str
    message: str
    cases: tuple[str, ...]
    smallest: Case


def _message_key(detail: str) -> str:
    """The error's telling line with layer names and numbers blanked, so one cause groups.
    Keras wraps the framework's error in "Exception encountered when calling layer ...":
    the line after the wrapper says what went wrong."""
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if "Exception encountered when calling layer" in first and len(lines) > 1:
        first = f"{first.split(':', 1)[0]}: {lines[1]}"
    first = re.sub(r"'[^']*_\d+'", "'…'", first)
    return re.sub(r"\d+", "N", first)[:160]


def framework_errors(results: Iterable[Mapping[str, Any]], cases: Mapping[str, Case],
                     named: Mapping[tuple[str, str], set[str]]) -> list[FrameworkError]:
    """ERROR outcomes grouped per implementation and message; ``named`` maps (framework,
    implementation) to the case ids a behaviour already explains (its value is ``error``)."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for r in results:
        if r["status"] != "ERROR" or r["case_id"] not in cases:
            continue
        if r["case_id"] in named.get((r["framework"], r["implementation"]), set()):
            continue
        key = (r["framework"], r["framework_version"], r["implementation"],
               _message_key(r["detail"]))
        groups.setdefault(key, []).append(r["case_id"])
    out = [FrameworkError(fw, v, impl, msg, tuple(sorted(ids)),
                          min((cases[i] for i in ids), key=lambda c: (_size(c), c.id)))
           for (fw, v, impl, msg), ids in groups.items()]
    return sorted(out, key=lambda x: (-len(x.cases), x.framework, x.implementation))


def named_error_cases(rows: Iterable[Any]) -> dict[tuple[str, str], set[str]]:
    """Case ids of each row (``RowReport``) whose error a behaviour names (value ``error``)."""
    out: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        ids = {c for f in row.findings if f.actual == "error" for c in f.evidence}
        if ids:
            out[(row.framework, row.implementation)] = ids
    return out
