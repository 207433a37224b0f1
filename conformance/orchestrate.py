"""Runs framework workers as subprocesses: isolation, per-case time limit, restarts.

Every framework runs in its own worker process (its own session, so a kill
reaches the worker and anything it spawned), and the orchestrator only reads
the JSON lines it echoes. What can go wrong, and what it becomes:

- the worker dies on a case (segfault, abort, OOM kill, ``os._exit``): the case
  gets a CRASH result naming the signal or exit code;
- a case reports nothing for ``case_timeout`` seconds: the worker's process
  group is killed and the case gets a TIMEOUT result;
- the worker reports no header within ``startup_timeout`` (a hang while
  importing) or dies before it (an import that crashes): the framework gets one
  ERROR header with the reason, and no restarts;
- the worker stops between cases: it is restarted; after ``MAX_IDLE_RESTARTS``
  restarts in a row that produced nothing, the orchestrator gives up and says so.

After a fault the worker is restarted with ``--resume``: the fault record
marks the case done, so a case that crashes every time is tried once, and
every restart makes progress. Each framework runs in its own thread, so one
framework's faults never touch another's results. Every record a worker echoes
(and every fault record written for it) also goes to an optional
:class:`~conformance.progress.Reporter`, which shows the run's progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from conformance.progress import Reporter
from conformance.runner import RESULTS, Writer, device_type, read_records, run_dir_name
from conformance.schedule import longest_first
from conformance.spec import SCHEMA_VERSION, RunStatus

# Restarts in a row that yield no new result before the orchestrator gives up on a worker.
MAX_IDLE_RESTARTS = 2
# How long to wait for stragglers holding the worker's stdout after it has exited.
_DRAIN_SECONDS = 1.0
_STOP = threading.Event()
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()
OnRecord = Callable[[dict[str, Any]], None]


def _ignore(record: dict[str, Any]) -> None:
    pass


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
    results: int = 0  # result records received from workers (fault records not counted)
    gave_up: str = ""  # set when cases may be left without a result

    @property
    def state(self) -> str:
        """``ok``, ``N restart(s)`` or ``ERROR <reason>``: the run's outcome in one phrase."""
        return (f"ERROR {self.import_error}" if self.import_error else
                f"{self.restarts} restart(s)" if self.restarts else "ok")


@dataclass
class _Attempt:
    """What one worker process reported before it ended."""

    header: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    results: int = 0
    ended: bool = False
    timed_out: bool = False
    returncode: int = 0
    start_error: str = ""
    stderr_tail: str = ""


def _command(python: str, framework: str, cases: Path, out: Path,
             device: str = "cpu") -> list[str]:
    return [python, "-m", "conformance", "worker", "--framework", framework,
            "--cases", str(cases), "--out", str(out), "--resume", "--echo",
            "--device", device]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Any non-empty value (even "0") enables faulthandler: a crash leaves its
    # Python stack in the framework's log.
    env.setdefault("PYTHONFAULTHANDLER", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _fault_record(framework: str, start: dict[str, Any], status: RunStatus,
                  reason: str) -> dict[str, Any]:
    return {"kind": "result", "framework": framework, "implementation": start["implementation"],
            "base": start["base"], "op": start["op"], "case_id": start["case_id"],
            "status": status.value, "reason": reason}


def _pump(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    """Move the worker's stdout lines to a queue, ``None`` at EOF.

    A thread instead of ``select`` on a buffered pipe: a buffered reader may
    hold a line that ``select`` no longer sees, which reads as a hang.
    """
    for raw in stream:
        lines.put(raw.decode("utf-8", errors="replace"))
    lines.put(None)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's process group (the worker and whatever it spawned)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(fh: IO[bytes], offset: int) -> str:
    """Last non-empty line the worker wrote to stderr, for the fault reason."""
    fh.flush()
    fh.seek(offset)
    text = fh.read()[-4000:].decode("utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith("Fatal Python error")]  # faulthandler's
    return (fatal or lines or [""])[-1][:300]


def _attempt(cmd: list[str], log: Path | None, case_timeout: float,
             startup_timeout: float, on_record: OnRecord = _ignore) -> _Attempt:
    """Run one worker process until it exits, hangs or the run is stopped."""
    att = _Attempt()
    with log.open("a+b") if log else tempfile.TemporaryFile() as err:
        offset = err.tell()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, env=_env(), start_new_session=True)
        except OSError as exc:
            att.start_error = f"cannot start {cmd[0]}: {exc.strerror or exc}"
            return att
        with _LIVE_LOCK:
            _LIVE.add(proc)
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            _follow(att, proc, lines, case_timeout, startup_timeout, on_record)
        finally:
            _kill_group(proc)  # stragglers, or the hung worker
            att.returncode = proc.wait()
            reader.join(timeout=5)
            proc.stdout.close()
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        att.stderr_tail = _tail(err, offset)
    return att


def _follow(att: _Attempt, proc: subprocess.Popen[bytes], lines: queue.Queue[str | None],
            case_timeout: float, startup_timeout: float, on_record: OnRecord) -> None:
    last = time.monotonic()
    dead_since: float | None = None
    while not _STOP.is_set():
        limit = case_timeout if att.header is not None else startup_timeout
        now = time.monotonic()
        if now - last >= limit:
            att.timed_out = True
            return
        try:
            line = lines.get(timeout=min(0.5, limit - (now - last)))
        except queue.Empty:
            # The worker is gone but something it spawned still holds the pipe.
            if proc.poll() is not None:
                dead_since = dead_since or now
                if now - dead_since >= _DRAIN_SECONDS:
                    return
            continue
        if line is None:
            return
        last = time.monotonic()
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a framework printing to stdout; not ours
        if not isinstance(record, dict):
            continue
        on_record(record)
        kind = record.get("kind")
        if kind == "header":
            att.header = record
        elif kind == "start":
            att.pending = record
        elif kind == "result":
            att.pending = None
            att.results += 1
        elif kind == "end":
            att.ended = True


def _has_result(results: Path, start: dict[str, Any]) -> bool:
    """Whether the worker wrote the case's result to the file but died before echoing it."""
    key = (start["case_id"], start["base"], start["op"])
    try:
        return any(r["kind"] == "result"
                   and (r.get("case_id"), r.get("base"), r.get("op")) == key
                   for r in read_records(results))
    except ValueError:
        return False


def _write_unavailable(out: Path, framework: str, reason: str, device: str = "cpu") -> Path:
    run_dir = out / run_dir_name(framework, "unavailable", device)
    (run_dir / RESULTS).unlink(missing_ok=True)
    w = Writer(run_dir / RESULTS, None)
    w.write({"kind": "header", "schema": SCHEMA_VERSION, "framework": framework,
             "framework_version": "unavailable", "python": "", "platform": "",
             "device_type": device_type(device),
             "error": {"type": "WorkerFailed", "message": reason}})
    w.close()
    return run_dir


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
        return f"signal {name} (killed; out of memory?)" if name == "SIGKILL" else \
            f"signal {name}"
    return f"exit code {code}"


def run_framework(framework: str, python: str, cases: Path, out: Path,
                  case_timeout: float, *, log: Path | None = None,
                  startup_timeout: float | None = None,
                  on_record: OnRecord = _ignore, device: str = "cpu") -> FrameworkRun:
    """Run one framework to completion, surviving crashes and hangs of its worker."""
    run = FrameworkRun(framework, python)
    startup = startup_timeout if startup_timeout is not None else max(case_timeout, 300.0)
    cmd = _command(python, framework, cases, out, device)
    t0 = time.perf_counter()
    idle = 0
    while not _STOP.is_set():
        att = _attempt(cmd, log, case_timeout, startup, on_record)
        run.returncode = att.returncode
        run.results += att.results
        if att.header is None:
            run.import_error = (
                att.start_error or
                (f"worker reported nothing within {startup:g} s (hung while starting?)"
                 if att.timed_out else
                 f"worker exited with {_describe_exit(att.returncode)} before reporting"
                 + (f": {att.stderr_tail}" if att.stderr_tail else "")))
            run.run_dir = _write_unavailable(out, framework, run.import_error, device)
            break
        run.run_dir = out / _dir_of(att.header)
        if "error" in att.header:
            err = att.header["error"]
            run.import_error = f"{err.get('type')}: {err.get('message')}"
            break
        if att.ended:
            if att.returncode != 0:
                run.faults.append(f"worker exited with {_describe_exit(att.returncode)} "
                                  "after its last case (no result affected)")
            break
        progress = att.results > 0
        if att.pending is not None:
            pending = att.pending
            if not _has_result(run.run_dir / RESULTS, pending):
                status = RunStatus.TIMEOUT if att.timed_out else RunStatus.CRASH
                reason = (f"no result within {case_timeout:g} s; worker killed"
                          if att.timed_out else
                          f"worker died with {_describe_exit(att.returncode)}")
                run.faults.append(f"{pending['case_id']} {pending['implementation']}: {reason}")
                fault = _fault_record(framework, pending, status, reason)
                writer = Writer(run.run_dir / RESULTS, None)
                writer.write(fault)
                writer.close()
                on_record(fault)
            progress = True
        else:
            reason = (f"no output for {case_timeout:g} s between cases; worker killed"
                      if att.timed_out else
                      f"worker stopped between cases with {_describe_exit(att.returncode)}"
                      + (f": {att.stderr_tail}" if att.stderr_tail else ""))
            run.faults.append(reason)
        idle = 0 if progress else idle + 1
        if idle > MAX_IDLE_RESTARTS:
            run.gave_up = (f"gave up after {idle} restarts without progress; "
                           "cases after the last result have none")
            run.faults.append(run.gave_up)
            break
        run.restarts += 1
    run.wall_seconds = time.perf_counter() - t0
    return run


def _dir_of(header: dict[str, Any]) -> str:
    """The run directory the worker writes to, from its header (see ``run_dir_name``)."""
    python = ".".join(str(header.get("python", "")).split(".")[:2])
    kind = str(header.get("device_type", "cpu"))
    return (f"{header['framework']}-{header['framework_version']}-py{python}-"
            f"{header['platform']}{'' if kind == 'cpu' else '-' + kind}")


def run_all(workers: list[tuple[str, str]], cases: Path, out: Path, case_timeout: float,
            jobs: int, *, log_dir: Path | None = None,
            startup_timeout: float | None = None,
            progress: Reporter | None = None, device: str = "cpu",
            expected: Mapping[str, float] | None = None) -> list[FrameworkRun]:
    """Run ``(framework, python)`` workers, ``jobs`` at a time; order of results = input.

    ``expected`` (seconds per framework, from the previous run) starts the longest first
    (``schedule.longest_first``), so the run lasts about its slowest worker.

    ``progress`` hears of each framework's start, every record, and its outcome.

    On KeyboardInterrupt every worker's process group is killed before the
    interrupt propagates, so no orphan keeps writing to the results.
    """
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    _STOP.clear()

    def one(item: tuple[str, str]) -> FrameworkRun:
        fw, py = item
        if progress is not None:
            progress.begin(fw)
        try:
            run = run_framework(
                fw, py, cases, out, case_timeout,
                log=log_dir / f"{fw}.log" if log_dir else None, startup_timeout=startup_timeout,
                on_record=(lambda r: progress.record(fw, r)) if progress else _ignore,
                device=device)
        except Exception as exc:  # one framework's trouble must not stop the others
            run = FrameworkRun(fw, py, import_error=f"orchestrator error: "
                               f"{type(exc).__name__}: {exc}")
        if progress is not None:
            progress.end(fw, run.state)
        return run

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        order = longest_first([fw for fw, _ in workers], expected or {})
        futures = {i: pool.submit(one, workers[i]) for i in order}
        return [futures[i].result() for i in range(len(workers))]
    except BaseException:
        _STOP.set()
        with _LIVE_LOCK:
            for proc in list(_LIVE):
                _kill_group(proc)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def default_python() -> str:
    return sys.executable


def stop_all() -> None:
    """Kill every worker started by any thread and start no more: for callers that run
    :func:`run_all` from threads of their own (``conformance history``) when interrupted."""
    _STOP.set()
    with _LIVE_LOCK:
        for proc in list(_LIVE):
            _kill_group(proc)
