"""Each implementation's measured conventions from the main run: the one reader.

Everything in the explorer asks :func:`conventions_of`; today it reads the main run's
``discrepancies.csv`` (``actual`` column), and switching to convention cards
(``reports/cards/*.json``) changes this module only. A qualified row the main run never
saw (``[float16]`` paths) falls back to its base implementation's conventions.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

Conventions = dict[str, str]


@functools.lru_cache(maxsize=8)
def _table(path: str) -> dict[tuple[str, str, str], Conventions]:
    p = Path(path)
    out: dict[tuple[str, str, str], Conventions] = {}
    if p.is_dir():  # convention cards (reports/cards/<framework>-<version>.json)
        for card in sorted(p.glob("*.json")):
            data = json.loads(card.read_text())
            for entry in data.get("implementations", []):
                key = (str(data["framework"]), str(entry["implementation"]), str(entry["op"]))
                # The exact value where the card has one (a float32 default is not its
                # rounded text), as the main analysis uses it.
                out[key] = {str(k): repr(v["exact"]) if "exact" in v else str(v["value"])
                            for k, v in dict(entry.get("behaviours", {})).items()}
        return out
    with p.open(newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["framework"], row["implementation"], row["op"])
            out.setdefault(key, {})[row["behaviour"]] = row["actual"]
    return out


def check_source(path: Path) -> None:
    """Raise ``ValueError`` (one line) when ``path`` holds no conventions."""
    if not path.exists():
        raise ValueError(f"{path}: no measured conventions (run `nox -s conformance` first, "
                         "or pass --conventions)")
    if not _table(str(path)):
        raise ValueError(f"{path}: holds no conventions")


def conventions_of(path: Path, framework: str, implementation: str, op: str) -> Conventions:
    """The measured conventions of a row, else of its base name; empty when unknown."""
    table = _table(str(path))
    found = table.get((framework, implementation, op))
    if found is None:
        found = table.get((framework, implementation.split("[", 1)[0], op), {})
    return dict(found)
