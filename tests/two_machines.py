"""Shared by the shard-and-merge tests: "machines" made of separate processes and directories.

A machine generates its own cases and runs its own environments into its own directory,
as a CI runner of the workflow's matrix does; nothing is shared with another machine but
the suite's code. The merged report of several machines must equal the report of one
machine that ran all of their environments, byte for byte apart from timings.

Timings: the report files (`results.csv`, `discrepancies.csv`, `suspected_bugs.csv`,
`index.html`) hold none, so they are compared byte for byte as written. The run
directories are compared record by record without the fields `runner.TIMING_FIELDS` names
(`seconds`, `started`, `finished`, `wall_seconds`, `maxrss_kb`), and their `.npz` outputs
byte for byte.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from conformance.runner import RESULTS, TIMING_FIELDS, read_records

REPORT_FILES = ("results.csv", "discrepancies.csv", "suspected_bugs.csv", "index.html")


def conformance(python: str, *args: str | Path, env: dict[str, str] | None = None) -> str:
    """Run the CLI in a process of its own; its stdout, or a failure naming the command."""
    cmd = [python, "-m", "conformance", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                          timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}: {done.stderr}"
    return done.stdout


def machine(root: Path, python: str, envs: list[str], families: list[str]) -> Path:
    """One machine: generate the cases here, run ``envs`` (``NAME=PYTHON``) into
    ``root/runs``; returns that runs directory."""
    conformance(python, "generate", "--out", root / "cases", "--families", *families)
    conformance(python, "run", "--cases", root / "cases", "--out", root / "runs", "--fresh",
                "--progress", "off", *[a for e in envs for a in ("--env", e)])
    return root / "runs"


def report(python: str, runs: list[Path], cases: Path, out: Path) -> Path:
    conformance(python, "report", "--runs", *runs, "--cases", cases, "--out", out)
    return out


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
            for r in read_records(run_dir / RESULTS)]


def assert_same_reports(merged: Path, single: Path) -> None:
    for name in REPORT_FILES:
        a, b = (merged / name).read_bytes(), (single / name).read_bytes()
        assert a == b, (f"{name}: the merged report of the machines differs from the "
                        f"single-machine report ({merged / name} vs {single / name})")


def assert_same_runs(split: list[Path], single: Path) -> None:
    """Every run directory of the machines is the single machine's, apart from timings."""
    dirs = {p.name: p for runs in split for p in runs.iterdir() if (p / RESULTS).exists()}
    alone = {p.name: p for p in single.iterdir() if (p / RESULTS).exists()}
    assert sorted(dirs) == sorted(alone), (f"machines made runs {sorted(dirs)}, one machine "
                                           f"made {sorted(alone)}")
    for name, path in dirs.items():
        assert _records(path) == _records(alone[name]), (
            f"{name}: records differ between the split and the single run beyond "
            f"{sorted(TIMING_FIELDS)}")
        outputs = sorted(p.name for p in (path / "outputs").glob("*.npz"))
        assert outputs == sorted(p.name for p in (alone[name] / "outputs").glob("*.npz")), name
        for out in outputs:
            assert (path / "outputs" / out).read_bytes() == \
                (alone[name] / "outputs" / out).read_bytes(), f"{name}/outputs/{out} differs"
