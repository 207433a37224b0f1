"""Command line: generate -> worker/run -> report. Bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from conformance.environments import ADAPTERS, ENV_BY_NAME

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """A problem with what the user asked for; printed as one line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="materialize case inputs and the manifest")
    g.add_argument("--out", type=Path, default=Path("cases/generated"))
    g.add_argument("--families", nargs="*", default=None)

    w = sub.add_parser("worker", help="run one framework's cases in this process")
    w.add_argument("--framework", required=True, choices=sorted(ADAPTERS))
    w.add_argument("--cases", type=Path, default=Path("cases/generated"))
    w.add_argument("--out", type=Path, default=Path("reports/runs"))
    w.add_argument("--resume", action="store_true")
    w.add_argument("--echo", action="store_true", help="also stream records to stdout")
    w.add_argument("--filter", default=None, help="only cases whose id contains this")

    r = sub.add_parser("run", help="run framework workers isolated, in parallel")
    r.add_argument("--env", action="append", default=[], metavar="NAME=PYTHON",
                   help=f"environment and its python; names: {', '.join(ENV_BY_NAME)}")
    r.add_argument("--unavailable", action="append", default=[], metavar="NAME=REASON",
                   help="an environment that could not be built: its frameworks get ERROR")
    r.add_argument("--cases", type=Path, default=Path("cases/generated"))
    r.add_argument("--out", type=Path, default=Path("reports/runs"))
    r.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--fresh", action="store_true", help="discard earlier results first")

    rep = sub.add_parser("report", help="merge runs and write the reports")
    rep.add_argument("--runs", type=Path, default=Path("reports/runs"))
    rep.add_argument("--cases", type=Path, default=Path("cases/generated"))
    rep.add_argument("--out", type=Path, default=Path("reports"))
    return p


def cmd_generate(args: argparse.Namespace) -> int:
    from conformance.cases import generate, materialize

    cases = materialize(generate(args.families), args.out)
    print(f"{len(cases)} cases written to {args.out}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from conformance.runner import run_worker

    return run_worker(args.framework, args.cases, args.out, resume=args.resume,
                      echo=sys.stdout if args.echo else None, case_filter=args.filter)


def _parse_envs(specs: Sequence[str]) -> list[tuple[str, str]]:
    workers = []
    for spec in specs:
        name, sep, python = spec.partition("=")
        if not sep or not python:
            raise UsageError(f"--env {spec!r}: expected NAME=PYTHON")
        if name not in ENV_BY_NAME:
            raise UsageError(f"--env {spec!r}: unknown environment {name!r}; "
                             f"known: {', '.join(ENV_BY_NAME)}")
        workers += [(fw, python) for fw in ENV_BY_NAME[name].frameworks]
    return workers


def _parse_unavailable(spec: str) -> list[tuple[str, str]]:
    name, sep, reason = spec.partition("=")
    if not sep or name not in ENV_BY_NAME:
        raise UsageError(f"--unavailable {spec!r}: expected NAME=REASON with NAME one of "
                         f"{', '.join(ENV_BY_NAME)}")
    return [(fw, reason.splitlines()[0][:300]) for fw in ENV_BY_NAME[name].frameworks]


def _write_unavailable(out: Path, framework: str, kind: str, message: str) -> None:
    from conformance.runner import RESULTS, Writer, run_dir_name
    from conformance.spec import SCHEMA_VERSION

    path = out / run_dir_name(framework, "unavailable") / RESULTS
    path.unlink(missing_ok=True)
    w = Writer(path, None)
    w.write({"kind": "header", "schema": SCHEMA_VERSION, "framework": framework,
             "framework_version": "unavailable", "python": "", "platform": "",
             "error": {"type": kind, "message": message}})
    w.close()


def cmd_run(args: argparse.Namespace) -> int:
    import shutil

    from conformance.orchestrate import default_python, run_all

    if args.timeout <= 0 or args.jobs < 1:
        raise UsageError("--timeout must be positive and --jobs at least 1")
    workers = _parse_envs(args.env) or [("numpy", default_python())]
    unavailable = [(fw, reason) for spec in args.unavailable
                   for fw, reason in _parse_unavailable(spec)]
    if not (args.cases / "manifest.jsonl").exists():
        raise UsageError(f"{args.cases}: no case manifest (run `conformance generate`)")
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    t0 = time.perf_counter()
    runs = run_all(workers, args.cases, args.out, args.timeout, args.jobs,
                   args.out.parent / "logs")
    for fw, reason in unavailable:
        _write_unavailable(args.out, fw, "EnvironmentUnavailable", reason)
        print(f"{fw:<11}     --    ERROR {reason}")
    for run in runs:
        if run.run_dir is None:  # the worker never got as far as a header
            _write_unavailable(args.out, run.framework, "WorkerFailed",
                               f"worker exited with {run.returncode} before reporting "
                               f"(see reports/logs/{run.framework}.log)")
        state = (f"ERROR {run.import_error}" if run.import_error else
                 f"{run.restarts} restart(s)" if run.restarts else "ok")
        print(f"{run.framework:<11} {run.wall_seconds:7.1f} s  {state}")
        for fault in run.faults:
            print(f"  fault: {fault}")
    print(f"all frameworks: {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.cases.store import load_manifest
    from conformance.compare.analyze import analyze
    from conformance.compare.load import load_runs
    from conformance.report.html import write_html
    from conformance.report.tables import write_tables

    t0 = time.perf_counter()
    cases = {c.id: c for c in load_manifest(args.cases)}
    analysis = analyze(load_runs(args.runs), cases, args.cases)
    try:
        paths = write_tables(analysis.results, analysis.discrepancies, args.out)
        paths.append(write_html(analysis, args.out))
    except PermissionError as exc:
        raise UsageError(f"{args.out}: not writable ({exc.strerror})") from None
    disagree = sum(1 for d in analysis.discrepancies if d["agrees"] == "no")
    print(f"{len(analysis.results)} checks, {len(analysis.discrepancies)} behaviour rows "
          f"({disagree} disagree with their documentation) in {time.perf_counter() - t0:.1f} s")
    for p in paths:
        print(f"  wrote {p}")
    return 0


COMMANDS = {"generate": cmd_generate, "worker": cmd_worker, "run": cmd_run,
            "report": cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
