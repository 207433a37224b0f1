"""Materialize cases once and read them back identically in every environment.

Layout of a case directory::

    manifest.jsonl      one JSON record per case (see ``Case.to_json``) plus its sha256
    inputs/<id>.npz     the case's arrays
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from conformance.arrays import load_arrays, save_arrays
from conformance.cases.families import inputs_for
from conformance.cases.model import DTYPES, Case

MANIFEST = "manifest.jsonl"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def materialize(cases: Iterable[Case], root: Path,
                make_inputs: Callable[[Case], dict[str, np.ndarray]] = inputs_for
                ) -> list[Case]:
    """Write inputs and manifest under ``root``; existing inputs with the same id are kept,
    a repeated id is written once. ``make_inputs``: the exploration's draws poison an
    element of the default inputs (conformance/explore/inputs.py)."""
    out: list[Case] = []
    lines, seen = [], set()
    for case in cases:
        if case.id in seen:
            continue
        seen.add(case.id)
        path = root / "inputs" / f"{case.id}.npz"
        if not path.exists():
            save_arrays(path, make_inputs(case))
        record = case.to_json()
        record["sha256"] = _sha256(path)
        lines.append(json.dumps(record, sort_keys=True))
        out.append(case)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(root / MANIFEST)
    return out


def case_set(root: Path) -> str:
    """A short digest naming the case set: the manifest's records (ids, parameters,
    tolerances and input sha256), in a fixed order. Runs made from different case sets
    cannot be merged or compared; runs of the same set can, whichever machine made them."""
    lines = sorted(line for line in (root / MANIFEST).read_text().splitlines() if line.strip())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def load_manifest(root: Path) -> list[Case]:
    """Read the manifest; a malformed line raises ``ValueError`` naming file and line."""
    path = root / MANIFEST
    if not path.exists():
        raise ValueError(f"{path}: no case manifest (run `conformance generate` first)")
    cases = []
    seen: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            case = Case.from_json(record)
            _check_case(case)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{lineno}: {_first_line(exc)}") from None
        if case.id in seen:
            raise ValueError(f"{path}:{lineno}: case {case.id} repeats line {seen[case.id]}")
        seen[case.id] = lineno
        cases.append(case)
    return cases


def _digests(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    try:
        st = path.stat()
    except OSError:
        return {}
    return _read_digests(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_digests(path: Path, mtime_ns: int, size: int) -> dict[str, str]:
    """Input digests by case id; keyed on mtime and size so a rewritten manifest is reread."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            out[str(record["id"])] = str(record["sha256"])
        except (ValueError, KeyError, TypeError):
            continue  # load_manifest reports bad lines
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_case(case: Case) -> None:
    """Reject what no op can run: a case must fix its shape with positive sizes.

    A zero-size dimension (an empty batch, no channels) has no batch statistics;
    frameworks disagree between NaN, an error and an empty output, so the suite
    refuses such a case up front instead of comparing undefined results.
    """
    shape = case.get("shape")
    if not isinstance(shape, tuple) or not shape or \
            not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise ValueError(f"case {case.id}: shape must be a list of integers, got {shape!r}")
    if any(d <= 0 for d in shape):
        raise ValueError(f"case {case.id}: shape {list(shape)} has a zero-size or negative "
                         "dimension; every dimension must be at least 1")
    if case.dtype not in DTYPES:
        raise ValueError(f"case {case.id}: unknown dtype {case.dtype!r}; "
                         f"known: {', '.join(DTYPES)}")


def verify_inputs(root: Path, cases: Iterable[Case]) -> None:
    """Check every case's input file against the manifest, before a run starts.

    Raises ``ValueError`` naming the first bad file; arrays are not parsed (the
    digest already proves they are the bytes ``generate`` wrote).
    """
    digests = _digests(root)
    for case in cases:
        path = root / "inputs" / f"{case.id}.npz"
        if not path.is_file():
            raise ValueError(f"{path}: inputs of case {case.id} are missing")
        if case.id in digests and _sha256(path) != digests[case.id]:
            raise ValueError(f"{path}: contents do not match the manifest's sha256 "
                             "(changed or truncated since `conformance generate`)")


def load_inputs(root: Path, case: Case) -> dict[str, np.ndarray]:
    """The case's arrays, checked against the manifest's digest when it has one."""
    path = root / "inputs" / f"{case.id}.npz"
    if not path.exists():
        raise ValueError(f"{path}: inputs of case {case.id} are missing")
    expected = _digests(root).get(case.id)
    if expected is not None and _sha256(path) != expected:
        raise ValueError(f"{path}: contents do not match the manifest's sha256 "
                         "(changed or truncated since `conformance generate`)")
    return load_arrays(path)
