"""Read run directories back into plain records, merging restarts and resumes."""

from __future__ import annotations

import json
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

    @property
    def framework(self) -> str:
        return str(self.header["framework"])

    @property
    def version(self) -> str:
        return str(self.header.get("framework_version", "unknown"))

    @property
    def error(self) -> str:
        err = self.header.get("error")
        return f"{err['type']}: {err['message']}" if err else ""

    def outputs(self, result: dict[str, Any]) -> dict[str, np.ndarray]:
        """The result's arrays; a missing file or member is an error naming both files."""
        path = self.path / result["outputs"]
        if not path.is_file():
            raise ValueError(f"{self.path / RESULTS}: result of {result['case_id']} points to "
                             f"{path}, which is missing")
        arrays = load_arrays(path)
        expected = set(result.get("summary") or arrays)
        if set(arrays) != expected:
            raise ValueError(f"{path}: holds {sorted(arrays)} but its result record in "
                             f"{self.path / RESULTS} lists {sorted(expected)}")
        return arrays


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
