"""Fault injection: workers that segfault, abort, hang, are killed or fail to import.

Each scenario runs the real CLI (or the orchestrator) with the test-only
faulty adapter (``CONFORMANCE_FAULTS``, see conformance/adapters/faulty.py)
and counts faults injected, faults survived (the run went on and the case got
the right outcome) and results lost (a case with no result at all; must be 0).
The figures are printed at the end of the module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import generate, materialize
from conformance.orchestrate import run_all, run_framework
from conformance.runner import RESULTS, read_records

TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    capman = request.config.pluginmanager.getplugin("capturemanager")
    line = (f"\nfault injection: {TALLY['injected']} injected, {TALLY['survived']} survived, "
            f"{TALLY['lost']} results lost")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print(line)
    else:
        print(line)


def small_cases(root: Path) -> list[str]:
    """Ten cases (six batch norm, two dropout, two centering) with their inputs."""
    cases = generate()
    picked = ([c for c in cases if c.op == "batchnorm"][:6]
              + [c for c in cases if c.op == "dropout"][:2]
              + [c for c in cases if c.op == "centering"][:2])
    materialize(picked, root)
    return [c.id for c in picked]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("cases")
    return root, small_cases(root)


def cli(*args: str | Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def faulty_python(tmp: Path, spec: str) -> Path:
    """A python that runs with faults switched on: one framework faulty, the others not."""
    script = tmp / f"python-faulty-{abs(hash(spec)) % 10**8}"
    script.write_text(f"#!/bin/sh\nCONFORMANCE_FAULTS='{spec}' exec {sys.executable} \"$@\"\n")
    script.chmod(0o755)
    return script


def results_of(run_dir: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Last result per (case, implementation, op), as the loader merges them."""
    out = {}
    for r in read_records(run_dir / RESULTS):
        if r["kind"] == "result":
            out[(r["case_id"], r["base"], r["op"])] = r
    return out


def run_dirs(out: Path) -> dict[str, Path]:
    return {p.name: p for p in out.iterdir() if (p / RESULTS).exists()}


def test_case_faults_become_outcomes_and_spare_other_frameworks(
        cases: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = cases
    bn = ids[:6]
    faults = {"segv": bn[0], "abort": bn[1], "hang": bn[2], "sigkill": bn[3], "exit": bn[4],
              "raise": bn[5]}
    spec = ",".join(f"{mode}@{case}" for mode, case in faults.items())
    out = tmp_path / "runs"
    # Two workers in parallel: a clean numpy and a faulty one (its version says +faults).
    proc = cli("run", "--cases", root, "--out", out, "--fresh", "--timeout", "3", "--jobs", "2",
               "--env", f"numpy={sys.executable}",
               "--env", f"numpy={faulty_python(tmp_path, spec)}")
    assert proc.returncode == 0, proc.stderr
    dirs = run_dirs(out)
    clean = results_of(next(p for n, p in dirs.items() if "+faults" not in n))
    faulty = results_of(next(p for n, p in dirs.items() if "+faults" in n))
    TALLY["injected"] += len(faults)

    lost = set(clean) - set(faulty)
    TALLY["lost"] += len(lost)
    assert not lost
    assert all(r["status"] == "ok" for r in clean.values())  # the other worker is unaffected
    expected = {"segv": ("crash", "SIGSEGV"), "abort": ("crash", "SIGABRT"),
                "hang": ("timeout", "no result within 3 s"), "sigkill": ("crash", "SIGKILL"),
                "exit": ("crash", "exit code 7"), "raise": ("error", "injected fault")}
    by_case = {k[0]: r for k, r in faulty.items()}
    for mode, case in faults.items():
        status, text = expected[mode]
        r = by_case[case]
        assert r["status"] == status, (mode, r)
        assert text in (r.get("reason") or r["error"]["message"]), (mode, r)
        TALLY["survived"] += 1
    for key, r in faulty.items():  # every case the faults did not touch ran normally
        if key[0] not in faults.values():
            assert r["status"] == "ok", r
            assert r["summary"] == clean[key]["summary"]
    assert "5 restart(s)" in proc.stdout  # segv, abort, hang, sigkill, exit

    rep = tmp_path / "rep"
    proc = cli("report", "--runs", out, "--cases", root, "--out", rep)
    assert proc.returncode == 0, proc.stderr
    rows = (rep / "results.csv").read_text().splitlines()
    for mode in ("segv", "abort", "sigkill", "exit"):
        assert any(faults[mode] in r and ",CRASH," in r and expected[mode][1] in r for r in rows)
    assert any(faults["hang"] in r and ",TIMEOUT," in r and "no result within" in r for r in rows)


@pytest.mark.parametrize("mode, text", [
    ("import", "ImportError: injected fault"),
    ("import_segv", "SIGSEGV before reporting"),
    ("import_hang", "reported nothing within 2 s"),
])
def test_import_faults_give_one_error_header(cases: tuple[Path, list[str]], tmp_path: Path,
                                             mode: str, text: str) -> None:
    root, _ = cases
    out = tmp_path / "runs"
    runs = run_all([("numpy", str(faulty_python(tmp_path, mode))), ("numpy", sys.executable)],
                   root, out, 3.0, 2, log_dir=tmp_path / "logs", startup_timeout=2.0)
    TALLY["injected"] += 1
    bad, good = runs
    assert text in bad.import_error
    assert bad.restarts == 0
    assert bad.run_dir is not None
    header = next(read_records(bad.run_dir / RESULTS))
    assert header["framework_version"] == "unavailable"
    assert header["error"]["message"] in bad.import_error
    assert good.import_error == "" and good.results == 10
    TALLY["survived"] += 1


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _wait_for_results(path: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and sum(1 for r in path.read_text().splitlines()
                                 if '"kind": "result"' in r) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the run produced no results")


def _start_slow_run(root: Path, out: Path, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conformance", "run", "--cases", str(root), "--out", str(out),
         "--timeout", "10", "--env", f"numpy={faulty_python(tmp, 'slow@')}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_worker_killed_mid_run(cases: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = cases
    out = tmp_path / "runs"
    proc = _start_slow_run(root, out, tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(out.glob("*/results.jsonl")):
        time.sleep(0.05)
    results = next(out.glob("*/results.jsonl"))
    _wait_for_results(results, 3, proc)
    workers = _children(proc.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    TALLY["injected"] += 1
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    got = results_of(results.parent)
    TALLY["lost"] += len(ids) - len({k[0] for k in got})
    assert {k[0] for k in got} == set(ids)
    crashes = [r for r in got.values() if r["status"] == "crash"]
    # The kill lands inside a case (it sleeps there) or, rarely, between two.
    assert len(crashes) <= 1
    assert all("SIGKILL" in r["reason"] for r in crashes)
    assert "restart(s)" in stdout
    TALLY["survived"] += 1


def test_orchestrator_killed_then_resumed_gives_the_same_reports(
        cases: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = cases
    whole, cut = tmp_path / "whole" / "runs", tmp_path / "cut" / "runs"
    proc = _start_slow_run(root, whole, tmp_path)
    proc.communicate(timeout=120)
    assert proc.returncode == 0

    proc = _start_slow_run(root, cut, tmp_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(cut.glob("*/results.jsonl")):
        time.sleep(0.05)
    results = next(cut.glob("*/results.jsonl"))
    _wait_for_results(results, 3, proc)
    workers = _children(proc.pid)
    proc.kill()  # the orchestrator only, as `kill -9` of the run would
    proc.communicate(timeout=30)
    TALLY["injected"] += 1
    for pid in workers:  # the orphaned worker dies at its next write (broken pipe)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and \
                "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists() or \
            "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    kept = results_of(results.parent)
    assert 3 <= len(kept) < len(ids)  # finished results survived the kill

    again = cli("run", "--cases", root, "--out", cut, "--timeout", "10",
                "--env", f"numpy={faulty_python(tmp_path, 'slow@')}")
    assert again.returncode == 2 and "--resume" in again.stderr  # neither flag: refused
    resumed = cli("run", "--cases", root, "--out", cut, "--timeout", "10", "--resume",
                  "--env", f"numpy={faulty_python(tmp_path, 'slow@')}")
    assert resumed.returncode == 0, resumed.stderr
    got = results_of(results.parent)
    for key, r in kept.items():  # finished cases were not redone
        assert got[key] == r
    TALLY["lost"] += len(set(ids) - {k[0] for k in got})
    assert {k[0] for k in got} == set(ids)

    reports = []
    for runs in (whole, cut):
        rep = runs.parent / "rep"
        proc2 = cli("report", "--runs", runs, "--cases", root, "--out", rep)
        assert proc2.returncode == 0, proc2.stderr
        reports.append({p.name: p.read_bytes() for p in sorted(rep.glob("*.csv"))})
    assert reports[0] and reports[0] == reports[1]
    TALLY["survived"] += 1


def test_worker_failing_before_its_header_is_reported_not_restarted(tmp_path: Path) -> None:
    """A worker that exits before reporting (here: a broken manifest) is not restarted in a
    loop; the framework gets one ERROR header whose reason names the file and line."""
    broken = tmp_path / "cases"
    broken.mkdir()
    (broken / "manifest.jsonl").write_text("{not json\n")
    run = run_framework("numpy", sys.executable, broken, tmp_path / "runs", 3.0,
                        startup_timeout=10.0)
    TALLY["injected"] += 1
    assert run.restarts == 0 and "before reporting" in run.import_error
    assert "manifest.jsonl:1" in run.import_error
    TALLY["survived"] += 1


def test_stop_all_lets_no_worker_start(tmp_path: Path) -> None:
    """What `conformance history` calls on Ctrl-C: its releases run `run_all` in threads."""
    from conformance import orchestrate

    orchestrate.stop_all()
    try:
        run = orchestrate.run_framework("numpy", sys.executable, tmp_path, tmp_path / "out", 5.0)
    finally:
        orchestrate._STOP.clear()
    assert run.run_dir is None and run.results == 0 and not (tmp_path / "out").exists()
