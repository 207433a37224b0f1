"""A measured NumPy run for the port's tests: real runs of the oracle row, no framework."""

from __future__ import annotations

from pathlib import Path

from conformance.cases import generate
from conformance.cases.store import materialize
from conformance.runner import run_worker

FAMILIES = ["bn_layout", "bn_momentum", "bn_epsilon", "bn_sequence", "bn_variance",
            "bn_fused"]


def numpy_runs(root: Path) -> tuple[Path, Path]:
    """(runs, cases) of the oracle row over the batch-norm families a port reads."""
    cases, runs = root / "cases", root / "runs"
    materialize(generate(FAMILIES), cases)
    assert run_worker("numpy", cases, runs) == 0
    return runs, cases
