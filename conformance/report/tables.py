"""The two public CSV tables (columns fixed by :mod:`conformance.spec`)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from conformance.report.files import write_text_atomic
from conformance.spec import DISCREPANCY_COLUMNS, RESULTS_COLUMNS


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns)).fillna("")
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_tables(results: list[dict[str, Any]], discrepancies: list[dict[str, Any]],
                 out: Path) -> list[Path]:
    paths = [out / "results.csv", out / "discrepancies.csv"]
    write_text_atomic(paths[0], to_csv(results, RESULTS_COLUMNS))
    write_text_atomic(paths[1], to_csv(discrepancies, DISCREPANCY_COLUMNS))
    return paths
