"""The gate: every measured behaviour row against its reviewed expectation.

Like strict xfails in array-api-tests, the gate fails on a new behaviour row, a
changed row and a vanished row alike: each one means the table the project
publishes no longer matches what was reviewed. A row has changed when its
``actual`` value, its ``documented`` value or its ``agrees`` verdict differs:
a documentation change that turns "yes" into "unverified" or "no" is news even
when the framework behaves as before.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

from conformance.compare.agreement import same_value
from conformance.expectations.files import (
    BEHAVIOUR_ORDER,
    GATED,
    Expectation,
    ExpectationFile,
    covering,
)
from conformance.expectations.measure import Measured, Measurement, groups

_UNCOVERED = "no expectations file covers"


class Outcome(str, enum.Enum):
    OK = "ok"
    NEW = "new"  # measured, no expectation
    CHANGED = "changed"  # actual, documented or agrees differs from the expectation
    GONE = "gone"  # expected, no longer measured
    UNAVAILABLE = "unavailable"  # the framework's run is ERROR (environment not built)


@dataclass(frozen=True)
class FieldDiff:
    """One gated field whose measured value differs from the reviewed one."""

    field: str
    expected: str
    measured: str


@dataclass(frozen=True)
class Check:
    """One (framework, implementation, behaviour) against its expectation.

    ``expected`` and ``actual`` are the behaviour's values; ``diffs`` names every
    gated field that changed (for a CHANGED check, at least one).
    """

    framework: str
    version: str
    implementation: str
    behaviour: str
    expected: str
    actual: str
    outcome: Outcome
    detail: str = ""
    diffs: tuple[FieldDiff, ...] = ()

    @property
    def failed(self) -> bool:
        if self.outcome is Outcome.UNAVAILABLE:
            return bool(self.expected)
        return self.outcome is not Outcome.OK


def field_diffs(e: Expectation, r: Measured) -> tuple[FieldDiff, ...]:
    """The gated fields of ``r`` that differ from ``e`` (numeric values within 1%)."""
    measured = {"actual": r.actual, "documented": r.documented, "agrees": r.agrees}
    out = []
    for name in GATED:
        old, new = getattr(e, name), measured[name]
        same = old == new if name == "agrees" else same_value(r.behaviour, old, new)
        if not same:
            out.append(FieldDiff(name, old, new))
    return tuple(out)


def _against(f: ExpectationFile, rows: list[Measured]) -> list[Check]:
    checks, seen = [], set()
    for r in rows:
        e = f.entries.get((r.implementation, r.behaviour))
        seen.add((r.implementation, r.behaviour))
        if e is None:
            checks.append(Check(r.framework, r.version, r.implementation, r.behaviour, "",
                                r.actual, Outcome.NEW, f"not in {f.path.name}"))
            continue
        diffs = field_diffs(e, r)
        checks.append(Check(r.framework, r.version, r.implementation, r.behaviour, e.actual,
                            r.actual, Outcome.CHANGED if diffs else Outcome.OK,
                            f"{f.path.name}: {e.reason}" if diffs else e.reason, diffs))
    fw, version = rows[0].framework, rows[0].version
    return checks + [Check(fw, version, e.implementation, e.behaviour, e.actual, "",
                           Outcome.GONE, f"{f.path.name}: {e.reason}")
                     for k, e in sorted(f.entries.items()) if k not in seen]


def gate(measurement: Measurement, files: list[ExpectationFile]) -> list[Check]:
    """Every check, failing ones first; pure function of its inputs."""
    checks: list[Check] = []
    measured_fw = {r.framework for r in measurement.rows}
    for (fw, version), rows in sorted(groups(measurement.rows).items()):
        f = covering(files, fw, version)
        if f is not None:
            checks += _against(f, rows)
            continue
        others = [x.versions for x in files if x.framework == fw]
        why = (f"{_UNCOVERED} {fw} {version}"
               + (f" (files cover {'; '.join(others)})" if others else ""))
        checks += [Check(fw, version, r.implementation, r.behaviour, "", r.actual,
                         Outcome.NEW, why) for r in rows]
    for fw in sorted({x.framework for x in files} - measured_fw):
        reason = measurement.unavailable.get(fw)
        outcome = Outcome.UNAVAILABLE if reason is not None else Outcome.GONE
        detail = f"run is ERROR: {reason}" if reason is not None else f"{fw} was not measured"
        for f in files:
            if f.framework == fw:
                checks += [Check(fw, "", e.implementation, e.behaviour, e.actual, "", outcome,
                                 detail) for _, e in sorted(f.entries.items())]
    for fw, reason in sorted(measurement.unavailable.items()):
        if fw not in measured_fw and not any(x.framework == fw for x in files):
            checks.append(Check(fw, "", "", "", "", "", Outcome.UNAVAILABLE,
                                f"run is ERROR: {reason}"))
    rank = {Outcome.CHANGED: 0, Outcome.NEW: 1, Outcome.GONE: 2, Outcome.UNAVAILABLE: 3,
            Outcome.OK: 4}
    return sorted(checks, key=lambda c: (not c.failed, rank[c.outcome], c.framework,
                                         c.implementation, BEHAVIOUR_ORDER.get(c.behaviour, 99)))


def _lines(c: Check) -> list[tuple[str, str, str]]:
    """(field, expected, measured) per table line: one per changed field."""
    if c.diffs:
        return [(d.field, d.expected or "-", d.measured or "-") for d in c.diffs]
    return [("actual" if c.behaviour else "-", c.expected or "-", c.actual or "-")]


def format_table(checks: list[Check], limit: int = 60) -> str:
    """The short table of what the gate reports: failures, then unavailable frameworks.

    A changed row gets one line per changed field (actual, documented, agrees),
    so a reviewer sees at once whether the framework or its documentation moved.
    """
    uncovered: dict[str, int] = defaultdict(int)
    for c in checks:
        if c.detail.startswith(_UNCOVERED):
            uncovered[f"{c.framework} {c.version}: {c.detail}"] += 1
    shown = [c for c in checks if (c.failed or c.outcome is Outcome.UNAVAILABLE)
             and not c.detail.startswith(_UNCOVERED)]
    head = [f"NEW      {k} ({n} behaviours)" for k, n in sorted(uncovered.items())]
    if not shown:
        return "\n".join(head)
    cols = ("outcome", "framework", "version", "implementation", "behaviour", "field",
            "expected", "measured")
    table = [cols] + [(c.outcome.value.upper(), c.framework, c.version, c.implementation or "-",
                       c.behaviour or "-", *line)
                      for c in shown[:limit] for line in _lines(c)]
    # Implementation names stay whole (qualified rows differ only at the end).
    caps = [48, 48, 48, 80, 48, 48, 48, 48]
    widths = [min(cap, max(len(r[i]) for r in table)) for i, cap in enumerate(caps)]
    lines = ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    for c in shown[:limit]:
        if c.outcome is Outcome.UNAVAILABLE and not c.implementation:
            lines.append(f"  {c.framework}: {c.detail}")
    if len(shown) > limit:
        lines.append(f"... and {len(shown) - limit} more")
    return "\n".join(head + lines)


def verdict(checks: list[Check]) -> str:
    """The gate's last line: PASS or FAIL, and what failed, counted by outcome."""
    ok = sum(1 for c in checks if c.outcome is Outcome.OK)
    failed = [c for c in checks if c.failed]
    if not failed:
        return f"gate: PASS, {ok} behaviour{'s' if ok != 1 else ''} as expected"
    n = {o: sum(1 for c in failed if c.outcome is o) for o in Outcome}
    parts = [f"{n[Outcome.CHANGED]} behaviour{'s' if n[Outcome.CHANGED] != 1 else ''} changed"
             if n[Outcome.CHANGED] else "",
             f"{n[Outcome.NEW]} new" if n[Outcome.NEW] else "",
             f"{n[Outcome.GONE]} gone" if n[Outcome.GONE] else "",
             f"{n[Outcome.UNAVAILABLE]} not measured (framework unavailable)"
             if n[Outcome.UNAVAILABLE] else ""]
    return (f"gate: FAIL, {', '.join(p for p in parts if p)}; {ok} as expected "
            "(see the table above)")
