"""The bench pipeline: suite and floor per framework, the matrix, growth, reports.

Every figure comes from a child process measured by :func:`measure.measure`, so
interpreter start-up and import count on both sides of the suite / floor ratio.
Per framework, the floor (``python -m conformance.bench.floor``) and the suite's
worker (``python -m conformance worker``) run alone, one after the other, in the
framework's environment, on the same cases. Environments come from
``conformance.environments``; one that is not given (not built) or whose adapter
does not load is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.bench.measure import Measured, count_results, measure
from conformance.bench.table import (
    FLOOR_TARGET,
    HEADER,
    REPORT_TARGET_S,
    Row,
    format_row,
    growth_line,
    matrix_verdict,
    report_line,
)
from conformance.environments import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]


def parse_envs(specs: Sequence[str]) -> dict[str, str]:
    """``NAME=PYTHON`` or ``NAME=!reason`` pairs; unknown names are a usage error."""
    known = {e.name for e in ENVIRONMENTS}
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value or name not in known:
            raise ValueError(f"--env {spec!r}: expected NAME=PYTHON with NAME one of "
                             f"{', '.join(sorted(known))}")
        out[name] = value
    return out


def _conformance(python: str, *args: str) -> list[str]:
    return [python, "-m", "conformance", *args]


# The suite / floor rows run with the compilation and export cache off on both sides:
# whichever ran first would fill it for the other and skew the ratio.
NO_CACHE = {"CONFORMANCE_CACHE": "off"}


def _best(cmd: list[str], repeat: int, log: Path, before: Any = None) -> Measured:
    """The fastest of ``repeat`` runs (the one least disturbed by other load);
    ``before`` is called ahead of each run (to clear the worker's output)."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        runs.append(measure(cmd, env=NO_CACHE, log=log))
        if not runs[-1].ok:
            return runs[-1]
    return min(runs, key=lambda m: m.wall_s)


def floor(framework: str, python: str, cases: Path, work: Path,
          repeat: int = 1) -> tuple[Measured, dict[str, Any]] | None:
    """The adapter's bare loop run alone: (measurement, its JSON line), or ``None``
    when it failed (its stderr is in ``work/floor-<framework>.log``)."""
    m = _best([python, "-m", "conformance.bench.floor", "--framework", framework,
               "--cases", str(cases)], repeat, work / f"floor-{framework}.log")
    info = last_json(m.stdout)
    return (m, info) if m.ok and info is not None else None


def suite(framework: str, python: str, cases: Path, runs: Path, work: Path,
          repeat: int = 1) -> Measured:
    """The suite's worker for ``framework`` run alone, writing its run under ``runs``."""
    def clear() -> None:
        for d in runs.glob(f"{framework}-*"):
            shutil.rmtree(d)

    return _best(_conformance(python, "worker", "--framework", framework, "--cases",
                              str(cases), "--out", str(runs)),
                 repeat, work / f"suite-{framework}.log", clear)


def framework_row(framework: str, cases: int, runs: Path, worker: Measured,
                  fl: tuple[Measured, dict[str, Any]] | None) -> Row:
    """One table row from the worker's run directory and measurement and the floor's."""
    header, _ = _header_end(runs, framework)
    if header is None or "error" in header or not worker.ok:
        err = (header or {}).get("error", {})
        return Row(framework, error=f"adapter does not load: {err.get('type', '?')}: "
                                    f"{err.get('message', f'worker exit {worker.returncode}')}")
    checks = count_results(runs, framework)
    note = ""
    if fl is None:
        note = f"floor failed (see floor-{framework}.log)"
    elif fl[1].get("pairs") != checks:
        note = f"floor made {fl[1].get('pairs')} pairs, the suite {checks}"
    return Row(framework, fl[1]["import_s"] if fl else None, cases, checks, worker.wall_s,
               worker.maxrss_mb, fl[0].wall_s if fl else None,
               fl[0].maxrss_mb if fl else None, worker.cpu_s, fl[0].cpu_s if fl else None,
               note=note)


def _header_end(runs: Path, framework: str) -> tuple[dict[str, Any] | None,
                                                     dict[str, Any] | None]:
    header = end = None
    for path in sorted(runs.glob(f"{framework}-*/results.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            if rec.get("kind") == "header" and header is None:
                header = rec
            elif rec.get("kind") == "end":
                end = rec
    return header, end


def last_json(stdout: str) -> dict[str, Any] | None:
    """The last line of ``stdout`` that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _manifest_size(cases: Path) -> int:
    return sum(1 for line in (cases / "manifest.jsonl").read_text().splitlines() if line.strip())


def run_matrix(envs: dict[str, str], cases: Path, runs: Path) -> Measured:
    args = ["run", "--cases", str(cases), "--out", str(runs), "--fresh", "--jobs", "2"]
    for name, python in envs.items():
        args += ["--unavailable", f"{name}={python[1:]}"] if python.startswith("!") \
            else ["--env", f"{name}={python}"]
    return measure(_conformance(sys.executable, *args))


def generate(cases: Path, scale: int) -> None:
    m = measure(_conformance(sys.executable, "generate", "--out", str(cases),
                             "--scale", str(scale)))
    if not m.ok:
        raise RuntimeError(f"conformance generate --scale {scale} failed")


def report(runs: Path, cases: Path, out: Path) -> Measured:
    return measure(_conformance(sys.executable, "report", "--runs", str(runs), "--cases",
                                str(cases), "--out", str(out)))


def time_nox(python: str, scratch: bool) -> Measured:
    """``nox -s conformance`` here (environments reused), or in a fresh copy of the tree."""
    cmd = [python, "-m", "nox", "-s", "conformance"]
    if not scratch:
        return measure(cmd, cwd=ROOT)
    with tempfile.TemporaryDirectory(prefix="conformance-scratch-") as tmp:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split()
        for f in files:
            if (ROOT / f).is_file():
                (Path(tmp) / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f, Path(tmp) / f)
        return measure(cmd, cwd=Path(tmp))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.bench", description=__doc__)
    p.add_argument("--env", action="append", default=[], metavar="NAME=PYTHON",
                   help="an environment's python, or NAME=!reason when it could not be built")
    p.add_argument("--work", type=Path, default=Path("reports/bench"))
    p.add_argument("--scales", default="1,4,16", help="growth steps, multiples of the default")
    p.add_argument("--growth-envs", default="numpy,torch",
                   help="environments of the growth runs (the slow ones make 16x long)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each suite worker and floor N times and keep the fastest")
    p.add_argument("--nox", action="store_true", help="time `nox -s conformance` (envs built)")
    p.add_argument("--nox-python", default=sys.executable, help="the python that has nox")
    p.add_argument("--scratch", action="store_true",
                   help="also time `nox -s conformance` building every env from scratch (slow)")
    args = p.parse_args(argv)
    try:
        envs = parse_envs(args.env)
        scales = [int(s) for s in args.scales.split(",") if s]
        if not scales or min(scales) < 1:
            raise ValueError("--scales: positive integers, e.g. 1,4,16")
        if args.repeat < 1:
            raise ValueError("--repeat: at least 1")
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    envs = {e.name: envs.get(e.name, "!not given to the bench") for e in ENVIRONMENTS}
    t0 = time.perf_counter()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cases = work / "cases-1x"
    generate(cases, 1)
    n_cases = _manifest_size(cases)

    print(f"== per framework, {n_cases} cases: the suite's worker and the adapter's bare loop "
          "(floor), each run alone ==")
    print("   (child processes: interpreter start and import count on both sides; "
          f"target x floor < {FLOOR_TARGET:g})")
    print(HEADER, flush=True)
    rows: list[Row] = []
    for env in ENVIRONMENTS:
        for fw in env.frameworks:
            python = envs[env.name]
            if python.startswith("!"):
                rows.append(Row(fw, error=f"environment {env.name}: {python[1:]}"))
            else:
                fl = floor(fw, python, cases, work, args.repeat)
                worker = suite(fw, python, cases, work / "suite-1x", work, args.repeat)
                rows.append(framework_row(fw, n_cases, work / "suite-1x", worker, fl))
            print(format_row(rows[-1]), flush=True)

    matrix = run_matrix(envs, cases, work / "runs-1x")
    print(f"\n== default matrix: conformance run --jobs 2, all frameworks ==\n"
          f"  {matrix_verdict(matrix.wall_s, rows)}")
    rep1 = report(work / "runs-1x", cases, work / "report-1x")
    print(report_line("default matrix", rep1.wall_s, REPORT_TARGET_S, rep1.cpu_s), flush=True)

    growth = {k: v for k, v in envs.items() if k in args.growth_envs.split(",")}
    names = ", ".join(growth)
    print(f"\n== growth ({names}): conformance run --jobs 2 ==")
    steps: list[tuple[int, int, Path, Path]] = []  # scale, cases, case dir, run dir
    base: tuple[int, float] | None = None
    for scale in scales:
        cdir = cases if scale == 1 else work / f"cases-{scale}x"
        if scale != 1:
            generate(cdir, scale)
        m = run_matrix(growth, cdir, work / f"growth-{scale}x")
        steps.append((scale, _manifest_size(cdir), cdir, work / f"growth-{scale}x"))
        print(growth_line(scale, steps[-1][1], m.wall_s, base, m.cpu_s), flush=True)
        base = base or (steps[-1][1], m.wall_s)
    print(f"== growth ({names}): conformance report ==")
    base = None
    for scale, n, cdir, runs in steps:
        rep = report(runs, cdir, work / f"report-{scale}x")
        print(growth_line(scale, n, rep.wall_s, base, rep.cpu_s), flush=True)
        base = base or (n, rep.wall_s)

    if args.nox or args.scratch:
        print("\n== nox -s conformance ==")
        reuse = time_nox(args.nox_python, scratch=False)
        print(f"  environments reused   {reuse.wall_s:8.1f}s  rc={reuse.returncode}")
        if args.scratch:
            fresh = time_nox(args.nox_python, scratch=True)
            print(f"  built from scratch    {fresh.wall_s:8.1f}s  rc={fresh.returncode}")
    print(f"\nbench: {time.perf_counter() - t0:.0f} s")
    return 0
