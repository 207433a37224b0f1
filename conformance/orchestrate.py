"""Runs framework workers as subprocesses: isolation, per-case time limit, restarts.

A worker that dies (segfault, abort, OOM kill) or stops reporting for longer
than the case time limit is killed if needed; the case it was on gets a CRASH
or TIMEOUT result appended to its results file, and the worker is restarted
with ``--resume`` so finished cases are not redone. A framework that cannot be
imported yields one ERROR header and no restarts. Frameworks run in parallel,
as many at once as ``jobs``.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.runner import RESULTS, Writer
from conformance.spec import RunStatus

MAX_RESTARTS = 50


@dataclass
class FrameworkRun:
    framework: str
    python: str
    run_dir: Path | None = None
    restarts: int = 0
    faults: list[str] = field(default_factory=list)
    returncode: int = 0
    wall_seconds: float = 0.0
    import_error: str = ""


def _command(python: str, framework: str, cases: Path, out: Path) -> list[str]:
    return [python, "-m", "conformance", "worker", "--framework", framework,
            "--cases", str(cases), "--out", str(out), "--resume", "--echo"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONFAULTHANDLER", "0")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _fault_record(framework: str, start: dict[str, Any], status: RunStatus,
                  reason: str) -> dict[str, Any]:
    return {"kind": "result", "framework": framework, "implementation": start["implementation"],
            "base": start["base"], "op": start["op"], "case_id": start["case_id"],
            "status": status.value, "reason": reason}


def run_framework(framework: str, python: str, cases: Path, out: Path,
                  case_timeout: float, log: Path | None = None) -> FrameworkRun:
    """Run one framework to completion, surviving crashes and hangs of its worker."""
    run = FrameworkRun(framework, python)
    t0 = time.perf_counter()
    while True:
        pending: dict[str, Any] | None = None
        logfh = log.open("a") if log else subprocess.DEVNULL
        proc = subprocess.Popen(_command(python, framework, cases, out), stdout=subprocess.PIPE,
                                stderr=logfh, text=True, env=_env(), start_new_session=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        timed_out = False
        last = time.monotonic()
        while True:
            limit = case_timeout if pending else max(case_timeout, 600.0)
            if not sel.select(timeout=max(0.1, limit - (time.monotonic() - last))):
                if time.monotonic() - last >= limit:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                continue
            line = proc.stdout.readline()
            if not line:
                break
            last = time.monotonic()
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            kind = record.get("kind")
            if kind == "header":
                run.run_dir = out / _dir_of(record)
                if "error" in record:
                    run.import_error = f"{record['error']['type']}: {record['error']['message']}"
            elif kind == "start":
                pending = record
            elif kind == "result":
                pending = None
        proc.wait()
        sel.close()
        if log and not isinstance(logfh, int):
            logfh.close()
        run.returncode = proc.returncode
        if pending is None or run.run_dir is None:
            break
        status = RunStatus.TIMEOUT if timed_out else RunStatus.CRASH
        reason = (f"no result within {case_timeout:g} s; worker killed" if timed_out
                  else f"worker died with {_describe_exit(proc.returncode)}")
        run.faults.append(f"{pending['case_id']} {pending['implementation']}: {reason}")
        writer = Writer(run.run_dir / RESULTS, None)
        writer.write(_fault_record(framework, pending, status, reason))
        writer.close()
        run.restarts += 1
        if run.restarts > MAX_RESTARTS:
            break
    run.wall_seconds = time.perf_counter() - t0
    return run


def _dir_of(header: dict[str, Any]) -> str:
    python = ".".join(str(header.get("python", "")).split(".")[:2])
    return (f"{header['framework']}-{header['framework_version']}-py{python}-"
            f"{header['platform']}")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def run_all(workers: list[tuple[str, str]], cases: Path, out: Path, case_timeout: float,
            jobs: int, log_dir: Path | None = None) -> list[FrameworkRun]:
    """Run ``(framework, python)`` workers, ``jobs`` at a time; order of results = input."""
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[str, str]) -> FrameworkRun:
        fw, py = item
        return run_framework(fw, py, cases, out, case_timeout,
                             log_dir / f"{fw}.log" if log_dir else None)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, workers))


def default_python() -> str:
    return sys.executable
