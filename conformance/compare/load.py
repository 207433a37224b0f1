"""Read run directories back into plain records, merging restarts and resumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.arrays import load_arrays
from conformance.runner import RESULTS, read_records
from conformance.spec import FRAMEWORKS


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
        return load_arrays(self.path / result["outputs"])


def load_run(path: Path) -> Run:
    """Load one run directory; the last result for a (case, implementation) wins."""
    records = list(read_records(path / RESULTS))
    headers = [r for r in records if r["kind"] == "header"]
    if not headers:
        raise ValueError(f"{path / RESULTS}: no header record")
    header = headers[0]
    if header.get("framework") not in FRAMEWORKS:
        raise ValueError(f"{path / RESULTS}: unknown framework {header.get('framework')!r}")
    run = Run(path, header)
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        if r["kind"] == "doc":
            run.docs.append(r)
        elif r["kind"] == "result":
            for key in ("case_id", "implementation", "op", "status"):
                if key not in r:
                    raise ValueError(f"{path / RESULTS}: result record lacks {key!r}")
            seen[(r["case_id"], r.get("base", r["implementation"]), r["op"])] = r
    run.results = sorted(seen.values(), key=lambda r: (r["implementation"], r["case_id"]))
    # Doc claims repeat on every resume header; keep one of each.
    uniq = {(d["implementation"], d["behaviour"], d["source"]): d for d in run.docs}
    run.docs = list(uniq.values())
    return run


def load_runs(root: Path) -> list[Run]:
    """Every run directory under ``root``, sorted by framework then version."""
    if not root.is_dir():
        raise ValueError(f"{root}: no results directory (run `nox -s conformance` first)")
    runs = [load_run(p) for p in sorted(root.iterdir()) if (p / RESULTS).exists()]
    order = {fw: i for i, fw in enumerate(FRAMEWORKS)}
    return sorted(runs, key=lambda r: (order.get(r.framework, 99), r.version))
