"""``conformance history``: the steps of a history, wired to the command line.

    conformance history 'keras>=3.0' [--latest-patch] [--jobs N] [--frameworks keras]
    conformance history 'tensorflow-cpu>=2.16' 'tf-keras>=2.16'
    conformance history keras==3.1.0 keras==3.2.1 --list     # the plan, nothing installed

``nox -s history -- ...`` runs it in the orchestration environment with uv and pip's
package sources set up; by hand, ``--uv`` and ``--python`` say what to build with.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conformance.environments import ENV_BY_NAME

DEFAULT_OUT = Path("reports/history")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    h = sub.add_parser("history", help="run every release of a package range and report "
                                       "when each behaviour changed")
    h.add_argument("requirements", nargs="+", metavar="REQUIREMENT",
                   help="'keras>=3.0', keras==3.1.0 keras==3.2.1, or packages that move "
                        "together: 'tensorflow-cpu>=2.16' 'tf-keras>=2.16'")
    h.add_argument("--latest-patch", action="store_true",
                   help="only the newest patch release of each minor series")
    h.add_argument("--frameworks", nargs="+", default=None,
                   help="frameworks to run (default: those named after the packages)")
    h.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="releases at a time (default: the cores available)")
    h.add_argument("--python", default=sys.executable,
                   help="interpreter the release environments are built on")
    h.add_argument("--uv", default=None, help="uv binary (default: uv on PATH)")
    h.add_argument("--pip-python", default=None,
                   help="an interpreter with pip, to list releases (default: --python, "
                        "this one, python3)")
    h.add_argument("--cases", type=Path, default=Path("cases/generated"))
    h.add_argument("--out", type=Path, default=DEFAULT_OUT)
    h.add_argument("--envs", type=Path, default=Path(".nox/_history"),
                   help="where release environments are built")
    h.add_argument("--keep-envs", action="store_true",
                   help="keep each release's environment (default: removed after its run)")
    h.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    h.add_argument("--list", action="store_true",
                   help="list the releases and their pins, run nothing")
    h.add_argument("--progress", choices=("auto", "live", "log", "off"), default="auto")


def _python_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise ValueError(f"--python {python}: cannot run it ({done.stderr.strip()[-200:]})")
    return done.stdout.strip()


def cmd_history(args: argparse.Namespace) -> int:
    from conformance.cli import UsageError
    from conformance.history.request import (
        list_versions,
        other_pythons,
        parse_request,
        select,
    )
    from conformance.history.runner import frameworks_for
    from conformance.upgrade import find_environment

    t0 = time.perf_counter()
    if args.jobs < 1 or args.timeout <= 0:
        raise UsageError("--jobs must be at least 1 and --timeout positive")
    request = parse_request(args.requirements)
    envs = {find_environment(p) for p in request.packages}
    if len(envs) != 1:
        raise UsageError(f"{' '.join(request.packages)}: packages of several environments "
                         f"({', '.join(sorted(e.name for e in envs))}); a history moves "
                         f"packages of one environment")
    env = envs.pop()
    if env.name == "numpy":
        raise UsageError("the numpy oracle has no history: name a framework's package")
    frameworks = tuple(args.frameworks or frameworks_for(request.packages, env))
    unknown = [f for f in frameworks if f not in env.frameworks]
    if unknown:
        raise UsageError(f"--frameworks {unknown[0]}: not a framework of environment "
                         f"{env.name} ({', '.join(env.frameworks)})")
    python = _python_version(args.python)
    pip = tuple(filter(None, (args.pip_python, args.python, sys.executable, "python3")))
    available = {p: list_versions(p, python, pythons=pip) for p in request.packages}
    elsewhere = other_pythons(request.packages[0], python, pythons=pip)
    releases = select(request, available, latest_patch=args.latest_patch, elsewhere=elsewhere)
    if not releases:
        raise UsageError(f"no release of {request.packages[0]} on the package index matches "
                         f"{' '.join(args.requirements)} for Python {python}")
    print(f"{len(releases)} releases of {request.packages[0]} for Python {python} "
          f"(environment {env.name}, frameworks {', '.join(frameworks)})")
    if args.list:
        for r in releases:
            print(f"  {' '.join(r.pins)}" + (f"  (not run: {r.skip})" if r.skip else ""))
        return 0
    return _run(args, env.name, frameworks, python, releases, t0)


def _run(args: argparse.Namespace, env_name: str, frameworks: tuple[str, ...], python: str,
         releases: list[Any], t0: float) -> int:
    import conformance
    from conformance.cases.store import case_set, load_manifest
    from conformance.cli import UsageError, _check_writable
    from conformance.history.changes import change_points
    from conformance.history.install import UvInstaller
    from conformance.history.report import group, terminal_lines, write_reports
    from conformance.history.runner import Plan, analyzer, run_history
    from conformance.history.store import is_done, load_all
    from conformance.progress import reporter

    uv = args.uv or shutil.which("uv")
    if uv is None:
        raise UsageError("no uv on PATH (pip install uv, or pass --uv)")
    cases = {c.id: c for c in load_manifest(args.cases)}
    _check_writable(args.out, "--out")
    plan = Plan(ENV_BY_NAME[env_name], frameworks, python, conformance.__version__,
                case_set(args.cases), args.cases.resolve(), args.out, args.envs.resolve(),
                args.jobs, args.timeout, args.keep_envs)
    installer = UvInstaller(uv, args.python, Path(__file__).resolve().parents[2])
    labels = [f"{fw} {r.version}" for r in releases  # a live line for each release to run
              if is_done(args.out, r.pins, plan.key(r)) is None for fw in frameworks]
    progress = reporter(labels, sys.stderr, args.progress)
    try:
        run_history(plan, releases, installer, analyzer(cases, args.cases), progress=progress)
    finally:
        if progress is not None:
            progress.close()
    # The report covers every history stored here with this suite version and case set.
    stored = [e for e in load_all(args.out)
              if e.suite_version == plan.suite_version and e.case_set == plan.case_set]
    groups = group(stored)
    points = [p for entries in groups.values() for p in change_points(entries)]
    paths = write_reports(args.out, groups, points)
    print(f"wrote {', '.join(p.name for p in paths)} in {args.out}")
    for line in terminal_lines([e for g in groups.values() for e in g], points):
        print(line)
    print(f"history: {time.perf_counter() - t0:.0f} s wall")
    return 0
