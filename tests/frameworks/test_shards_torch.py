"""Runs split across machines, with a real framework: machine A runs the NumPy oracle row,
machine B runs PyTorch, each in its own processes, directories and case generation; their
runs merged by `conformance report --runs A B` (on a third "machine" with cases of its own)
equal one machine's run of both, byte for byte apart from timings (tests/two_machines.py
says which fields). Runs in the torch environment (`nox -s tests-torch`, part of
`nox -s tests`), whose Python runs every process here: the orchestrator and the numpy worker
need only the suite and numpy, which every framework environment holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from two_machines import assert_same_reports, assert_same_runs, conformance, machine, report

pytestmark = pytest.mark.framework("torch")

# bfloat16 cases need ml_dtypes, which the torch environment lacks: families without them.
FAMILIES = ["bn_momentum", "bn_sequence", "bn_layout", "dropout", "centering"]


def test_numpy_and_torch_on_two_machines_merge_to_the_one_machine_report(
        tmp_path: Path) -> None:
    py = sys.executable
    a = machine(tmp_path / "A", py, [f"numpy={py}"], FAMILIES)
    b = machine(tmp_path / "B", py, [f"torch={py}"], FAMILIES)
    single = machine(tmp_path / "single", py, [f"numpy={py}", f"torch={py}"], FAMILIES)
    conformance(py, "generate", "--out", tmp_path / "merge" / "cases", "--families", *FAMILIES)
    merged = report(py, [a, b], tmp_path / "merge" / "cases", tmp_path / "merged-report")
    alone = report(py, [single], tmp_path / "single" / "cases", tmp_path / "single-report")
    assert_same_runs([a, b], single)
    assert_same_reports(merged, alone)
    frameworks = {line.split(",")[0] for line in
                  (merged / "results.csv").read_text().splitlines()[1:]}
    assert frameworks == {"numpy", "torch"}, f"merged report holds {sorted(frameworks)}"
    assert not any(p.name.endswith("unavailable") for p in (*a.iterdir(), *b.iterdir())), \
        "a machine could not run its framework"
