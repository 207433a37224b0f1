"""Materialize cases once and read them back identically in every environment.

Layout of a case directory::

    manifest.jsonl      one JSON record per case (see ``Case.to_json``) plus its sha256
    inputs/<id>.npz     the case's arrays
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from conformance.arrays import load_arrays, save_arrays
from conformance.cases.families import inputs_for
from conformance.cases.model import Case

MANIFEST = "manifest.jsonl"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def materialize(cases: Iterable[Case], root: Path) -> list[Case]:
    """Write inputs and manifest under ``root``; existing inputs with the same id are kept."""
    cases = list(cases)
    lines = []
    for case in cases:
        path = root / "inputs" / f"{case.id}.npz"
        if not path.exists():
            save_arrays(path, inputs_for(case))
        record = case.to_json()
        record["sha256"] = _sha256(path)
        lines.append(json.dumps(record, sort_keys=True))
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(root / MANIFEST)
    return cases


def load_manifest(root: Path) -> list[Case]:
    """Read the manifest; a malformed line raises ``ValueError`` naming file and line."""
    path = root / MANIFEST
    if not path.exists():
        raise ValueError(f"{path}: no case manifest (run `conformance generate` first)")
    cases = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(Case.from_json(json.loads(line)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
    return cases


def load_inputs(root: Path, case: Case) -> dict[str, np.ndarray]:
    path = root / "inputs" / f"{case.id}.npz"
    if not path.exists():
        raise ValueError(f"{path}: inputs of case {case.id} are missing")
    return load_arrays(path)
