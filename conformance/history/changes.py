"""The tidy table of a history and its change points.

A release's behaviours are the ``discrepancies`` rows of its own analysis (the same
fit, the same earned values, as the main report): one ``value`` per implementation and
behaviour. A change point is two consecutive releases that ran, between which a value
differs (numeric defaults within 1 %, as everywhere in the suite). Releases that could
not be installed or run are not a point of the timeline for values: the change is
reported between the nearest releases on either side that ran, and the report says
which releases lie between.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.compare.agreement import same_value
from conformance.history.request import VersionKey, version_key
from conformance.history.store import OK, Entry
from conformance.spec import UNDECIDED

TIDY_COLUMNS = ("package", "version", "companions", "framework", "framework_version",
                "implementation", "op", "behaviour", "value", "evidence")
CHANGE_COLUMNS = ("package", "framework", "implementation", "behaviour", "before_version",
                  "after_version", "before", "after", "kind", "evidence")
ABSENT = "(absent)"
_CASE_ID = re.compile(r"\b[a-z][a-z0-9_]*-[0-9a-f]{10}\b")


def case_ids(evidence: str) -> list[str]:
    """The case ids an evidence note names, in order, once each."""
    return list(dict.fromkeys(_CASE_ID.findall(evidence)))


def behaviour_rows(discrepancies: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """What a history keeps of an analysis: the measured value and its evidence."""
    return [{"framework": str(d["framework"]), "framework_version": str(d["framework_version"]),
             "implementation": str(d["implementation"]), "op": str(d["op"]),
             "behaviour": str(d["behaviour"]), "value": str(d["actual"]),
             "evidence": " ".join(case_ids(str(d.get("evidence", ""))))}
            for d in discrepancies]


def ordered(entries: Iterable[Entry]) -> list[Entry]:
    """Releases oldest first (by the timeline package's version)."""
    return sorted(entries, key=lambda e: version_key(e.version) or ((), 0))


def tidy(entries: Iterable[Entry]) -> list[dict[str, str]]:
    """One row per release, implementation and behaviour, releases oldest first."""
    rows = []
    for e in ordered(entries):
        if e.status != OK:
            continue
        for b in e.behaviours:
            rows.append({"package": e.package, "version": e.version,
                         "companions": e.companions_text(), **b})
    return rows


@dataclass(frozen=True)
class ChangePoint:
    package: str  # the package whose releases make the timeline
    framework: str
    implementation: str
    behaviour: str
    before_version: str
    after_version: str
    before: str
    after: str
    evidence_before: str
    evidence_after: str

    @property
    def kind(self) -> str:
        """``changed`` (two measured values), ``undecided`` (one side inconclusive, not
        measured or not applicable), ``appeared`` or ``vanished`` (a row on one side)."""
        if self.before == ABSENT:
            return "appeared"
        if self.after == ABSENT:
            return "vanished"
        return "undecided" if {self.before, self.after} & set(UNDECIDED) else "changed"

    @property
    def evidence(self) -> str:
        """The cases that decided each side's value (the evidence one click away)."""
        parts = [f"after: {self.evidence_after}" if self.evidence_after else "",
                 f"before: {self.evidence_before}" if self.evidence_before else ""]
        return "; ".join(p for p in parts if p)

    def row(self) -> dict[str, str]:
        return {"package": self.package, "framework": self.framework,
                "implementation": self.implementation, "behaviour": self.behaviour,
                "before_version": self.before_version, "after_version": self.after_version,
                "before": self.before,
                "after": self.after, "kind": self.kind, "evidence": self.evidence}


Series = dict[tuple[str, str, str], dict[str, dict[str, str]]]


def series(entries: Iterable[Entry]) -> tuple[list[Entry], Series]:
    """The releases that ran, oldest first, and each (framework, implementation,
    behaviour)'s row by release version."""
    ran = [e for e in ordered(entries) if e.status == OK]
    out: Series = {}
    for e in ran:
        for b in e.behaviours:
            out.setdefault((b["framework"], b["implementation"], b["behaviour"]),
                           {})[e.version] = b
    return ran, out


def change_points(entries: Iterable[Entry]) -> list[ChangePoint]:
    """Every value that differs between consecutive releases that ran.

    A release where the framework ran but the row is missing counts as ``(absent)``;
    a release where the framework did not run at all is no point of its timeline.
    """
    ran, rows = series(entries)
    ran_fw = {e.version: {b["framework"] for b in e.behaviours} for e in ran}
    points = []
    for (fw, impl, beh), by_version in sorted(rows.items()):
        timeline = [e for e in ran if fw in ran_fw[e.version]]
        prev: tuple[str, dict[str, str] | None] | None = None
        for e in timeline:
            row = by_version.get(e.version)
            if prev is not None:
                before, after = prev[1], row
                vb = before["value"] if before else ABSENT
                va = after["value"] if after else ABSENT
                if (vb == ABSENT) != (va == ABSENT) or (
                        vb != ABSENT and not same_value(beh, vb, va)):
                    points.append(ChangePoint(
                        e.package, fw, impl, beh, prev[0], e.version, vb, va,
                        before["evidence"] if before else "",
                        after["evidence"] if after else ""))
            prev = (e.version, row)
    def order(p: ChangePoint) -> tuple[str, VersionKey, str, str]:
        return p.framework, version_key(p.after_version) or ((), 0), p.implementation, p.behaviour

    return sorted(points, key=order)
