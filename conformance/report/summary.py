"""What `conformance report` prints: the counts, then a short table of what to look at.

The table has one line per thing a person should read: a behaviour that
contradicts its documentation, an implementation with unexplained mismatches
(a suspected bug), a framework error no behaviour names, cases that crashed or
timed out, and frameworks that did not run at all. Everything comes from the
analysis (run headers and results); nothing is re-derived.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from conformance.compare.analyze import Analysis
from conformance.compare.explain import (
    framework_errors,
    named_error_cases,
    suspected_bugs,
    unexplained,
)

PER_KIND = 8  # lines of one kind before "... and N more"
_CAPS = (25, 10, 64, 64)  # column widths: kind, framework, implementation, detail


@dataclass(frozen=True)
class Item:
    """One line of the table."""

    kind: str
    framework: str
    implementation: str
    detail: str


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _faults(analysis: Analysis) -> list[Item]:
    """CRASH and TIMEOUT results, one line per implementation and outcome."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in analysis.results:
        if r["status"] in ("CRASH", "TIMEOUT"):
            groups[(r["status"], r["framework"], r["implementation"])].append(r["detail"])
    kinds = {"CRASH": "crashed", "TIMEOUT": "timed out"}
    return [Item(kinds[status], fw, impl, f"{_plural(len(details), 'case')}: {details[0]}")
            for (status, fw, impl), details in sorted(groups.items())]


def items(analysis: Analysis) -> list[Item]:
    """Every line of the table, grouped by kind in reading order."""
    out = [Item("contradicts documentation", d["framework"], d["implementation"],
                f"{d['behaviour']}: documented {d['documented']}, measured {d['actual']}")
           for d in analysis.discrepancies if d["agrees"] == "no"]
    out += [Item("unexplained mismatch", b.framework, b.implementation,
                 f"{_plural(b.mismatches, 'mismatch', 'mismatches')} on "
                 f"{_plural(len(b.cases), 'case')}; smallest {b.smallest.id}")
            for b in suspected_bugs(analysis.results, analysis.cases)]
    out += [Item("framework error", x.framework, x.implementation,
                 f"{_plural(len(x.cases), 'case')}: {x.message}")
            for x in framework_errors(analysis.results, analysis.cases,
                                      named_error_cases(analysis.rows))]
    out += _faults(analysis)
    out += [Item("did not run", run.framework, "-", run.error)
            for run in analysis.runs if run.error]
    return out


def _counts(analysis: Analysis, found: list[Item]) -> str:
    kinds: dict[str, int] = defaultdict(int)
    for item in found:
        kinds[item.kind] += 1
    status: dict[str, int] = defaultdict(int)
    for r in analysis.results:
        status[r["status"]] += 1
    return ", ".join([
        f"{kinds['contradicts documentation']} contradict documentation",
        _plural(len(unexplained(analysis.results)), "unexplained mismatch",
                "unexplained mismatches"),
        _plural(kinds["framework error"], "framework error"),
        f"{status['CRASH']} crashed",
        f"{status['TIMEOUT']} timed out",
        f"{_plural(kinds['did not run'], 'framework')} not run",
    ])


def format_table(found: list[Item], limit: int = PER_KIND) -> list[str]:
    """Aligned lines, at most ``limit`` per kind (the HTML report and CSVs have them all)."""
    shown: list[Item] = []
    more: dict[str, int] = defaultdict(int)
    for item in found:
        if sum(1 for s in shown if s.kind == item.kind) < limit:
            shown.append(item)
        else:
            more[item.kind] += 1
    if not shown:
        return []
    rows = [("what", "framework", "implementation", "detail")]
    rows += [(s.kind, s.framework, s.implementation, " ".join(s.detail.split())) for s in shown]
    widths = [min(cap, max(len(r[i]) for r in rows)) for i, cap in enumerate(_CAPS)]
    lines = ["  ".join((v if len(v) <= w else v[:w - 1] + "…").ljust(w)
                       for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [f"  ... and {n} more: {kind}" for kind, n in more.items()]
    return lines


def summary(analysis: Analysis, seconds: float, html: Path | None = None) -> list[str]:
    """The counts line, what-to-look-at line, the table, and where the HTML report is."""
    mismatches = sum(1 for r in analysis.results if r["status"] == "MISMATCH")
    found = items(analysis)
    lines = [f"{_plural(len(analysis.results), 'check')}, "
             f"{_plural(len(analysis.discrepancies), 'behaviour row')}, "
             f"{mismatches} mismatches against the oracle, in {seconds:.1f} s",
             ("to look at: " if found else "nothing to look at: ") + _counts(analysis, found)]
    lines += format_table(found)
    if html is not None:
        lines.append(f"HTML report: {html}")
    return lines
