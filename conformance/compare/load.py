"""Read run directories back into plain records, merging restarts and resumes."""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.arrays import load_arrays
from conformance.runner import RESULTS, read_records
from conformance.spec import FRAMEWORKS, RunStatus

_STATUSES = tuple(s.value for s in RunStatus)


@dataclass
class Run:
    """One framework at one version, Python and platform."""

    path: Path
    header: dict[str, Any]
    docs: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    # Arrays already read, by outputs file: analysis and the HTML report both ask.
    _arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False,
                                                      compare=False)

    @property
    def framework(self) -> str:
        return str(self.header["framework"])

    @property
    def version(self) -> str:
        """The framework's version, with the device when it is not the CPU:
        ``2.13.0 (cuda)`` is a run of its own beside ``2.13.0`` (see ``runner``)."""
        version = str(self.header.get("framework_version", "unknown"))
        device = str(self.header.get("device_type", "cpu"))
        return version if device == "cpu" else f"{version} ({device})"

    @property
    def error(self) -> str:
        err = self.header.get("error")
        return f"{err['type']}: {err['message']}" if err else ""

    def outputs(self, result: dict[str, Any]) -> dict[str, np.ndarray]:
        """The result's arrays; a missing file or member is an error naming both files.

        Each file is read once per :class:`Run` (the dict is a fresh copy each call)."""
        arrays = self._arrays.get(result["outputs"])
        path = self.path / result["outputs"]
        if arrays is None:
            if not path.is_file():
                raise ValueError(f"{self.path / RESULTS}: result of {result['case_id']} "
                                 f"points to {path}, which is missing")
            arrays = self._arrays[result["outputs"]] = _read_outputs(path)
        expected = set(result.get("summary") or arrays)
        if set(arrays) != expected:
            raise ValueError(f"{path}: holds {sorted(arrays)} but its result record in "
                             f"{self.path / RESULTS} lists {sorted(expected)}")
        return dict(arrays)


# The header ``numpy.lib.format`` writes for a plain numeric array; anything else (object
# arrays, structured dtypes, other writers) goes through ``load_arrays``.
_NPY_HEADER = re.compile(r"\{'descr': '([<>|=][fiub][1-8])', 'fortran_order': (False|True), "
                         r"'shape': \((|\d+,|\d+(?:, \d+)+)\), \}")


def _read_outputs(path: Path) -> dict[str, np.ndarray]:
    """``load_arrays(path)``, parsing the simple headers our own writer produces with a
    regular expression instead of ``ast.literal_eval`` (a third of the load time)."""
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    return load_arrays(path)
                buf = bytearray(info.file_size)
                with zf.open(info) as member:
                    if member.readinto(buf) != info.file_size:  # type: ignore[attr-defined]
                        return load_arrays(path)
                array = _parse_npy(buf)
                if array is None:
                    return load_arrays(path)
                out[info.filename[:-4]] = array
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error):
        return load_arrays(path)  # raises the error that names the file, or reads it
    return out


def _parse_npy(buf: bytearray) -> np.ndarray | None:
    if buf[:6] != b"\x93NUMPY" or buf[6] not in (1, 2, 3):
        return None
    size = 2 if buf[6] == 1 else 4
    start = 8 + size
    end = start + int.from_bytes(buf[8:start], "little")
    match = _NPY_HEADER.fullmatch(buf[start:end].decode("latin1").rstrip(" \n"))
    if match is None:
        return None
    dtype = np.dtype(match.group(1))
    shape = tuple(int(d) for d in match.group(3).split(",") if d.strip())
    count = math.prod(shape)
    if len(buf) - end != count * dtype.itemsize:
        return None
    array = np.frombuffer(buf, dtype=dtype, count=count, offset=end)
    return array.reshape(shape, order="F" if match.group(2) == "True" else "C")


def load_run(path: Path) -> Run:
    """Load one run directory; the last result for a (case, implementation) wins."""
    records = list(read_records(path / RESULTS))
    headers = [r for r in records if r["kind"] == "header"]
    if not headers:
        raise ValueError(f"{path / RESULTS}: no header record")
    header = headers[0]
    if header.get("framework") not in FRAMEWORKS:
        raise ValueError(f"{path / RESULTS}: unknown framework {header.get('framework')!r}; "
                         f"known: {', '.join(FRAMEWORKS)}")
    err = header.get("error")
    if err is not None and not (isinstance(err, dict) and {"type", "message"} <= set(err)):
        raise ValueError(f"{path / RESULTS}: header 'error' needs 'type' and 'message'")
    run = Run(path, header)
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        if r["kind"] == "doc":
            if not all(isinstance(r.get(k), str) for k in ("implementation", "behaviour")):
                raise ValueError(f"{path / RESULTS}: doc record lacks 'implementation' or "
                                 f"'behaviour': {_short(r)}")
            run.docs.append(r)
        elif r["kind"] == "result":
            for key in ("case_id", "implementation", "op", "status"):
                if not isinstance(r.get(key), str):
                    raise ValueError(f"{path / RESULTS}: result record lacks {key!r}: "
                                     f"{_short(r)}")
            if r["status"] not in _STATUSES:
                raise ValueError(f"{path / RESULTS}: result of {r['case_id']} has unknown status "
                                 f"{r['status']!r}; known: {', '.join(_STATUSES)}")
            if r["status"] == RunStatus.OK.value and not isinstance(r.get("outputs"), str):
                raise ValueError(f"{path / RESULTS}: ok result of {r['case_id']} names no "
                                 "outputs file")
            seen[(r["case_id"], r.get("base", r["implementation"]), r["op"])] = r
    run.results = sorted(seen.values(), key=lambda r: (r["implementation"], r["case_id"]))
    # Doc claims repeat on every resume header; keep one of each.
    uniq = {(d["implementation"], d["behaviour"], d.get("source")): d for d in run.docs}
    run.docs = list(uniq.values())
    return run


def _short(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def load_runs(root: Path) -> list[Run]:
    """Every run directory under ``root``, sorted by framework then version."""
    if not root.is_dir():
        raise ValueError(f"{root}: no results directory (run `nox -s conformance` first)")
    runs = [load_run(p) for p in sorted(root.iterdir()) if (p / RESULTS).exists()]
    order = {fw: i for i, fw in enumerate(FRAMEWORKS)}
    return sorted(runs, key=lambda r: (order.get(r.framework, 99), r.version))
