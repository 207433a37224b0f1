"""Run a command as a child process and measure wall time, CPU time and peak memory.

``os.wait4`` gives the rusage of that one child, so the peak resident size is
the worker's own, not the largest of every child the bench has started.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float  # user + system of the child (and of its waited-for children)
    maxrss_mb: float
    returncode: int
    stdout: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def measure(cmd: Sequence[str], cwd: Path | None = None,
            env: Mapping[str, str] | None = None, log: Path | None = None) -> Measured:
    """Run ``cmd`` to completion; stdout is captured, stderr goes to ``log`` (or nowhere)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                **(env or {})}
    err = log.open("a") if log else subprocess.DEVNULL
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                stderr=err, text=True)
        assert proc.stdout is not None  # stdout=PIPE
        with proc.stdout as fh:
            out = fh.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log and not isinstance(err, int):
            err.close()
    wall = time.perf_counter() - t0
    # ru_maxrss is in kilobytes on Linux.
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                    proc.returncode, out)


def count_results(run_root: Path, framework: str) -> int:
    """Result records of ``framework`` under a run directory (case x implementation pairs)."""
    n = 0
    for path in run_root.glob(f"{framework}-*/results.jsonl"):
        n += sum(1 for line in path.read_text().splitlines() if '"kind": "result"' in line)
    return n
