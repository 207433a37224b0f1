"""The two public CSV tables (columns fixed by :mod:`conformance.spec`)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from conformance.compare.explain import SUSPECTED_BUG_COLUMNS, SuspectedBug
from conformance.report.files import write_text_atomic
from conformance.spec import DISCREPANCY_COLUMNS, RESULTS_COLUMNS


def _cell(value: Any) -> Any:
    """Missing values (None, NaN) as empty cells, as pandas' ``fillna("")`` wrote them."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    # The csv module, not pandas: importing pandas took a third of the report step.
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    return buf.getvalue()


def write_tables(results: list[dict[str, Any]], discrepancies: list[dict[str, Any]],
                 out: Path) -> list[Path]:
    paths = [out / "results.csv", out / "discrepancies.csv"]
    write_text_atomic(paths[0], to_csv(results, RESULTS_COLUMNS))
    write_text_atomic(paths[1], to_csv(discrepancies, DISCREPANCY_COLUMNS))
    return paths


def write_bugs(bugs: list[SuspectedBug], out: Path) -> Path:
    """``suspected_bugs.csv``: one row per implementation with unexplained mismatches."""
    path = out / "suspected_bugs.csv"
    write_text_atomic(path, to_csv([b.to_row() for b in bugs], SUSPECTED_BUG_COLUMNS))
    return path
