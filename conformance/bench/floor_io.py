"""What every floor script shares: read the case store with json and NumPy only.

Kept apart from :mod:`conformance.cases` on purpose: the floor must carry no
suite machinery (no Case model, no adapters, no result records), only the
framework calls and the reading of the same input bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def cases(cases_dir: Path) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """(manifest record, input arrays) of every case, in manifest order."""
    for line in (cases_dir / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            with np.load(cases_dir / "inputs" / f"{record['id']}.npz") as data:
                yield record, {k: data[k] for k in data.files}


def channel_axis(params: dict[str, Any]) -> int:
    return 1 if params.get("channel_axis", "first") == "first" else len(params["shape"]) - 1


def cases_dir_arg() -> Path:
    p = argparse.ArgumentParser(description="bare loop of one framework's calls")
    p.add_argument("--cases", type=Path, required=True)
    return Path(p.parse_args().cases)


def emit(framework: str, t_start: float, t_imported: float, calls: int, cases: int) -> None:
    """One JSON line the bench reads: import time, loop time and how many calls were made."""
    now = time.perf_counter()
    print(json.dumps({"framework": framework, "import_s": t_imported - t_start,
                      "loop_s": now - t_imported, "calls": calls, "cases": cases}))
    sys.stdout.flush()
