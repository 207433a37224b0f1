"""analyze(): rows analyzed in forked processes, and the caches rows share, change nothing.

Real runs of the numpy worker; a second run is a copy of it under another version (every
output the same bits, so every shared cache entry is hit), with one output perturbed (so a
cache keyed by anything less than the output's content would hand it the original's
numbers).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.arrays import load_arrays, save_arrays
from conformance.cases.store import load_manifest
from conformance.compare.analyze import Analysis, analyze
from conformance.compare.load import load_runs
from conformance.spec import Status

FAMILIES = ("bn_layout", "bn_epsilon", "bn_batch", "dropout", "centering")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, tuple[str, str]]:
    """(cases, runs root, the perturbed (implementation, case id)): the numpy run and a
    perturbed copy."""
    root = tmp_path_factory.mktemp("analyze")
    for args in (("generate", "--out", str(root / "cases"), "--families", *FAMILIES),
                 ("run", "--cases", str(root / "cases"), "--out", str(root / "runs"),
                  "--env", f"numpy={sys.executable}", "--progress", "off")):
        done = subprocess.run([sys.executable, "-m", "conformance", *args],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    (original,) = (root / "runs").iterdir()
    copy = root / "runs" / (original.name + "-copy")
    shutil.copytree(original, copy)
    lines = (copy / "results.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["framework_version"] += ".copy"
    lines[0] = json.dumps(header)
    (copy / "results.jsonl").write_text("\n".join(lines) + "\n")
    record = next(json.loads(x) for x in lines[1:] if '"kind": "result"' in x
                  and '"implementation": "conformance.oracle.batchnorm.sequence"' in x
                  and '"status": "ok"' in x)
    arrays = dict(load_arrays(copy / record["outputs"]))
    arrays["y_train"] = arrays["y_train"] * np.float32(1.01)
    save_arrays(copy / record["outputs"], arrays)
    return root / "cases", root / "runs", (record["implementation"], record["case_id"])


def _analysis(cases_dir: Path, root: Path, jobs: int, only: str | None = None) -> Analysis:
    cases = {c.id: c for c in load_manifest(cases_dir)}
    loaded = [r for r in load_runs(root) if only is None or r.version == only]
    return analyze(loaded, cases, cases_dir, jobs)


def _rows(a: Analysis) -> list[tuple[Any, ...]]:
    return [(r.framework, r.version, r.implementation, r.op,
             [f.to_json() for f in r.findings], r.statuses) for r in a.rows]


def test_forked_processes_give_the_same_tables_row_for_row(runs: tuple[Path, Path, tuple[str, str]]
                                                           ) -> None:
    cases, root, _ = runs
    one, two = _analysis(cases, root, 1), _analysis(cases, root, 2)
    assert len(one.rows) > 4
    assert one.results == two.results
    assert one.discrepancies == two.discrepancies
    assert _rows(one) == _rows(two)


def test_shared_caches_never_lend_one_row_another_rows_numbers(
        runs: tuple[Path, Path, tuple[str, str]]) -> None:
    """The perturbed copy analysed after the original (every other output a cache hit)
    equals the copy analysed alone, and its perturbed case fails where the original's
    passes."""
    cases, root, (implementation, case_id) = runs
    both = _analysis(cases, root, 1)
    version = next(r.version for r in both.rows if r.version.endswith(".copy"))
    alone = _analysis(cases, root, 1, only=version)
    assert [r for r in _rows(both) if r[1] == version] == _rows(alone)
    assert [r for r in both.results if r["framework_version"] == version] == alone.results
    failing = {(r["framework_version"], r["case_id"]) for r in both.results
               if r["status"] != Status.PASS.value and r["implementation"] == implementation}
    assert (version, case_id) in failing
    assert not any(v != version and c == case_id for v, c in failing)
