"""What the gate compares: the behaviour rows of ``discrepancies.csv``, plus run facts.

The table alone gives actual, documented and agrees; the run directories add
which frameworks could not run at all (an ERROR run has no rows) and the
source of each documented value, which ``update`` writes beside new entries.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.spec import DISCREPANCY_COLUMNS


@dataclass(frozen=True)
class Measured:
    """One behaviour row of the discrepancy table, plus the source of its documentation."""

    framework: str
    version: str
    implementation: str
    behaviour: str
    actual: str
    agrees: str
    documented: str = ""
    doc_source: str = ""


@dataclass
class Measurement:
    rows: list[Measured]
    unavailable: dict[str, str] = field(default_factory=dict)  # framework -> reason


def read_discrepancies(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise ValueError(f"{path}: no discrepancy table (run `conformance report` first)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(DISCREPANCY_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a discrepancy table "
                             f"(lacks {', '.join(sorted(missing))})")
        return list(reader)


def measure(discrepancies: Path, runs: Path | Sequence[Path] | None = None) -> Measurement:
    """The behaviour rows, with unavailable frameworks and doc sources taken from ``runs``
    (one directory of runs, or several: runs merged from several machines)."""
    sources: dict[tuple[str, str, str], str] = {}
    unavailable: dict[str, str] = {}
    if runs is not None:
        from conformance.compare.analyze import documented_for
        from conformance.compare.load import load_runs

        roots = [runs] if isinstance(runs, Path) else list(runs)
        loaded = [run for root in roots for run in load_runs(root)]
        ran = {r.framework for r in loaded if not r.error}
        for run in loaded:
            if run.error and run.framework not in ran:
                unavailable[run.framework] = run.error
            for impl in {str(d["implementation"]) for d in run.docs} | {
                    str(r["implementation"]) for r in run.results}:
                for b, d in documented_for(run, impl).items():
                    sources[(run.framework, impl, b)] = str(d.get("source", ""))
    rows = [Measured(r["framework"], r["framework_version"], r["implementation"],
                     r["behaviour"], r["actual"], r["agrees"], r["documented"],
                     sources.get((r["framework"], r["implementation"], r["behaviour"]), ""))
            for r in read_discrepancies(discrepancies)]
    return Measurement(rows, unavailable)


def groups(rows: list[Measured]) -> dict[tuple[str, str], list[Measured]]:
    """Rows by (framework, version): one expectations file covers each group."""
    out: dict[tuple[str, str], list[Measured]] = {}
    for r in rows:
        out.setdefault((r.framework, r.version), []).append(r)
    return out
