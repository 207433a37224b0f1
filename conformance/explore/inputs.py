"""Materialize explored cases: the default draws, then the case's ``poison``.

The arrays come from ``cases.families.inputs_for`` (the same draws as the default
matrix); a batch-norm case with ``poison`` = ``nan``/``inf``/``-inf`` then has the first
element of the first training batch replaced, so NaN and infinities reach every
implementation as the same bytes. The manifest is the store's own format, so the
existing worker reads it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from conformance.arrays import save_arrays
from conformance.cases.families import inputs_for
from conformance.cases.model import Case
from conformance.cases.store import MANIFEST, _sha256

POISON_VALUES = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def explore_inputs(case: Case) -> dict[str, np.ndarray]:
    with np.errstate(over="ignore"):  # 1e8 or 1e30 in float16 is inf: an extreme input
        arrays = inputs_for(case)
    poison = POISON_VALUES.get(str(case.get("poison", "none")))
    if poison is not None and "train" in arrays:
        train = arrays["train"].copy()
        train.flat[0] = poison
        arrays["train"] = train
    return arrays


def materialize(cases: Iterable[Case], root: Path) -> list[Case]:
    """Write inputs and manifest under ``root`` (ids unique; existing inputs kept)."""
    out, lines, seen = [], [], set()
    for case in cases:
        if case.id in seen:
            continue
        seen.add(case.id)
        path = root / "inputs" / f"{case.id}.npz"
        if not path.exists():
            save_arrays(path, explore_inputs(case))
        record = case.to_json()
        record["sha256"] = _sha256(path)
        lines.append(json.dumps(record, sort_keys=True))
        out.append(case)
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text("\n".join(lines) + "\n")
    return out
