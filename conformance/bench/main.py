"""The bench pipeline: floors and workers per environment, the matrix, growth, reports.

Every figure comes from a child process measured by :func:`measure.measure`, so
import time and interpreter start-up count on both sides of the suite / floor
ratio. Environments come from ``conformance.environments``; one that is not
given (not built) or whose adapter does not load is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.bench.measure import Measured, count_results, measure
from conformance.bench.table import (
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


def floor_module(framework: str) -> str | None:
    name = f"floor_{framework}"
    return f"conformance.bench.{name}" if (Path(__file__).parent / f"{name}.py").exists() \
        else None


def _conformance(python: str, *args: str) -> list[str]:
    return [python, "-m", "conformance", *args]


def floor(framework: str, python: str, cases: Path, work: Path) -> tuple[Measured, float] | None:
    """The floor script of ``framework`` run alone: (measurement, its import seconds)."""
    module = floor_module(framework)
    if module is None:
        return None
    m = measure([python, "-m", module, "--cases", str(cases)], log=work / f"floor-{framework}.log")
    info = _last_json(m)
    return (m, float(info["import_s"])) if m.ok and info is not None else None


def suite_rows(matrix: Measured, runs: Path, cases: Path, envs: dict[str, str],
               floors: dict[str, tuple[Measured, float] | None]) -> list[Row]:
    """Per framework: wall time as the orchestrator printed it, peak memory from the
    worker's end record, checks from its results, beside the floor."""
    walls = {m.group(1): float(m.group(2))
             for m in re.finditer(r"^(\S+)\s+([\d.]+) s\b", matrix.stdout, re.MULTILINE)}
    rows = []
    for env in ENVIRONMENTS:
        for fw in env.frameworks:
            if envs[env.name].startswith("!"):
                rows.append(Row(fw, error=f"environment {env.name}: {envs[env.name][1:]}"))
                continue
            header, end = _header_end(runs, fw)
            if header is None or "error" in header or fw not in walls:
                err = (header or {}).get("error", {})
                rows.append(Row(fw, error=f"adapter does not load: {err.get('type', '?')}: "
                                          f"{err.get('message', 'no run')}"))
                continue
            fl = floors.get(fw)
            rows.append(Row(fw, fl[1] if fl else None, _manifest_size(cases),
                            count_results(runs, fw), walls[fw],
                            end["maxrss_kb"] / 1024 if end and "maxrss_kb" in end else None,
                            fl[0].wall_s if fl else None, fl[0].maxrss_mb if fl else None))
    return rows


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


def _last_json(m: Measured) -> dict[str, float] | None:
    for line in reversed(m.stdout.splitlines()):
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
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    envs = {e.name: envs.get(e.name, "!not given to the bench") for e in ENVIRONMENTS}
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cases = work / "cases-1x"
    generate(cases, 1)

    floors: dict[str, tuple[Measured, float] | None] = {}
    for env in ENVIRONMENTS:
        for fw in env.frameworks:
            if not envs[env.name].startswith("!"):
                floors[fw] = floor(fw, envs[env.name], cases, work)
    matrix = run_matrix(envs, cases, work / "runs-1x")
    rows = suite_rows(matrix, work / "runs-1x", cases, envs, floors)
    print("== default matrix: conformance run --jobs 2, all frameworks; floors run alone ==")
    print("   (times include interpreter start and import; n.a. = no floor script yet)")
    print(HEADER)
    for row in rows:
        print(format_row(row))
    print(f"  {matrix_verdict(matrix.wall_s, rows)}")
    rep1 = report(work / "runs-1x", cases, work / "report-1x")
    print(report_line("default matrix", rep1.wall_s, REPORT_TARGET_S))

    growth = {k: v for k, v in envs.items() if k in args.growth_envs.split(",")}
    print(f"\n== growth ({', '.join(growth)}; conformance run --jobs 2) ==")
    base: tuple[int, float] | None = None
    for scale in scales:
        cdir = cases if scale == 1 else work / f"cases-{scale}x"
        if scale != 1:
            generate(cdir, scale)
        m = run_matrix(growth, cdir, work / f"growth-{scale}x")
        n = _manifest_size(cdir)
        print(growth_line(scale, n, m.wall_s, base), flush=True)
        base = base or (n, m.wall_s)
    top = max(scales)
    rep = report(work / f"growth-{top}x", cases if top == 1 else work / f"cases-{top}x",
                 work / f"report-{top}x")
    print(report_line(f"{top}x ({', '.join(growth)})", rep.wall_s))

    if args.nox or args.scratch:
        print("\n== nox -s conformance ==")
        reuse = time_nox(args.nox_python, scratch=False)
        print(f"  environments reused   {reuse.wall_s:8.1f}s  rc={reuse.returncode}")
        if args.scratch:
            fresh = time_nox(args.nox_python, scratch=True)
            print(f"  built from scratch    {fresh.wall_s:8.1f}s  rc={fresh.returncode}")
    return 0
