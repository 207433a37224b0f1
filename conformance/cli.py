"""Command line: generate -> worker/run -> report. Bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from conformance.environments import ADAPTERS, ENV_BY_NAME

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """A problem with what the user asked for; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (no usage dump), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _check_writable(path: Path, option: str) -> None:
    """Fail before any work when ``path`` cannot take files (a report is never half-written)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {path}: not writable ({exc.strerror or exc})") from None


_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``; whether this machine has it is the worker's call."""
    if _DEVICE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected cpu, cuda or cuda:N")
    return text


def _add_worker_parser(sub: argparse._SubParsersAction[Any]) -> None:
    w = sub.add_parser("worker", help="run one framework's cases in this process")
    w.add_argument("--framework", required=True, choices=sorted(ADAPTERS))
    w.add_argument("--cases", type=Path, default=Path("cases/generated"))
    w.add_argument("--out", type=Path, default=Path("reports/runs"))
    w.add_argument("--resume", action="store_true")
    w.add_argument("--echo", action="store_true", help="also stream records to stdout")
    w.add_argument("--filter", default=None, help="only cases whose id contains this")
    w.add_argument("--device", type=_device, default="cpu",
                   help="where the adapter runs (cpu, cuda, cuda:N); a run on another "
                        "device than the CPU is its own run, named '<version> (cuda)'")


def _parser(worker_only: bool = False) -> argparse.ArgumentParser:
    """The command line; ``worker_only``: just the ``worker`` command, which every framework
    process of a run parses (the other commands' parsers and modules cost 7 ms of a NumPy
    worker's 0.2 s)."""
    p: argparse.ArgumentParser = _Parser(prog="conformance", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    if worker_only:
        _add_worker_parser(sub)
        return p

    g = sub.add_parser("generate", help="materialize case inputs and the manifest")
    g.add_argument("--out", type=Path, default=Path("cases/generated"))
    g.add_argument("--families", nargs="*", default=None)
    g.add_argument("--device-probes", action="store_true",
                   help="add the cases where a GPU takes another path (bn_device) to the "
                        "default families")
    g.add_argument("--scale", type=int, default=1,
                   help="replicate every case N times with new seeds (benchmark growth)")

    _add_worker_parser(sub)
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
    r.add_argument("--resume", action="store_true",
                   help="keep earlier results and run only the cases that have none")
    r.add_argument("--device", type=_device, default="cpu",
                   help="device every worker runs on (cpu, cuda, cuda:N)")
    r.add_argument("--progress", choices=("auto", "live", "log", "off"), default="auto",
                   help="progress on stderr: a live line per framework on a terminal (auto: "
                        "live when stderr is a terminal), a line per 25%% in logs, or none")

    rep = sub.add_parser("report", help="merge runs and write the reports")
    rep.add_argument("--runs", type=Path, nargs="+", default=[Path("reports/runs")],
                     help="directories of runs (several: e.g. the local runs and runs "
                          "unpacked from a device machine)")
    rep.add_argument("--cases", type=Path, default=Path("cases/generated"))
    rep.add_argument("--out", type=Path, default=Path("reports"))
    rep.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="processes that analyze rows (default: the cores); the reports "
                          "are the same whatever the number")

    pk = sub.add_parser("pack", help="pack run directories into one archive (tar.gz)")
    pk.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    pk.add_argument("--out", type=Path, required=True, metavar="ARCHIVE")
    up = sub.add_parser("unpack", help="unpack archives written by `pack` into a runs dir")
    up.add_argument("archives", type=Path, nargs="+", metavar="ARCHIVE")
    up.add_argument("--out", type=Path, default=Path("reports/runs"))

    dv = sub.add_parser("device", help="on a device machine: run every env once per "
                                       "device with one Python, pack each run into --out")
    dv.add_argument("--python", default=sys.executable,
                    help="the machine's Python (default: this one)")
    dv.add_argument("--env", action="append", default=None, metavar="NAME",
                    help="environments to run (default: torch and flax)")
    dv.add_argument("--devices", nargs="+", type=_device, default=["cpu", "cuda"])
    dv.add_argument("--cases", type=Path, default=Path("cases/generated"),
                    help="case store (generated with the device probes if absent)")
    dv.add_argument("--work", type=Path, default=Path("reports/device"))
    dv.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    dv.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "reports/device")),
                    help="where the archives go (default: $OUT)")
    _add_gate_parsers(sub)
    from conformance.history import cli as history_cli
    from conformance.port import cli as port_cli

    port_cli.add_parser(sub)  # conformance port (conformance/port/cli.py)
    history_cli.add_parser(sub)
    return p


def cmd_generate(args: argparse.Namespace) -> int:
    from conformance.cases import generate, materialize
    from conformance.cases.families import FAMILIES, OPT_IN

    families = args.families
    if args.device_probes:
        base = families if families is not None else [n for n in FAMILIES if n not in OPT_IN]
        families = [*base, *sorted(OPT_IN - set(base))]
    cases = materialize(generate(families, args.scale), args.out)
    print(f"{len(cases)} cases written to {args.out}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from conformance.runner import run_worker

    return run_worker(args.framework, args.cases, args.out, resume=args.resume,
                      echo=sys.stdout if args.echo else None, case_filter=args.filter,
                      device=args.device)


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


def _write_unavailable(out: Path, framework: str, kind: str, message: str,
                       device: str = "cpu") -> None:
    from conformance.runner import RESULTS, Writer, device_type, run_dir_name
    from conformance.spec import SCHEMA_VERSION

    path = out / run_dir_name(framework, "unavailable", device) / RESULTS
    path.unlink(missing_ok=True)
    w = Writer(path, None)
    w.write({"kind": "header", "schema": SCHEMA_VERSION, "framework": framework,
             "framework_version": "unavailable", "python": "", "platform": "",
             "device_type": device_type(device), "error": {"type": kind, "message": message}})
    w.close()


def cmd_run(args: argparse.Namespace) -> int:
    import shutil

    from conformance.orchestrate import default_python, run_all
    from conformance.progress import reporter

    if not math.isfinite(args.timeout) or args.timeout <= 0 or args.jobs < 1:
        raise UsageError("--timeout must be positive and --jobs at least 1")
    if args.fresh and args.resume:
        raise UsageError("--fresh and --resume contradict each other: --fresh discards the "
                         "results that --resume would continue")
    workers = _parse_envs(args.env) or [("numpy", default_python())]
    unavailable = [(fw, reason) for spec in args.unavailable
                   for fw, reason in _parse_unavailable(spec)]
    if not (args.cases / "manifest.jsonl").exists():
        raise UsageError(f"{args.cases}: no case manifest (run `conformance generate`)")
    from conformance.cases.store import load_manifest, verify_inputs

    verify_inputs(args.cases, load_manifest(args.cases))  # bad case files stop the run here
    from conformance.schedule import previous_seconds

    expected = previous_seconds(args.out)  # longest first; read before --fresh clears it
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    elif not args.resume and args.out.is_dir() and any(args.out.glob("*/results.jsonl")):
        raise UsageError(f"--out {args.out}: holds results of an earlier run; pass --resume "
                         "to finish it or --fresh to discard it")
    _check_writable(args.out, "--out")
    _check_writable(args.out.parent / "logs", "--out")
    t0 = time.perf_counter()
    progress = reporter([fw for fw, _ in workers], sys.stderr, args.progress)
    try:
        runs = run_all(workers, args.cases, args.out, args.timeout, args.jobs,
                       log_dir=args.out.parent / "logs", progress=progress,
                       device=args.device, expected=expected)
    finally:
        if progress is not None:
            progress.close()
    for fw, reason in unavailable:
        _write_unavailable(args.out, fw, "EnvironmentUnavailable", reason, args.device)
        print(f"{fw:<11}     --    ERROR {reason}")
    for run in runs:
        if run.run_dir is None:  # the worker never got as far as a header
            _write_unavailable(args.out, run.framework, "WorkerFailed",
                               f"worker exited with {run.returncode} before reporting "
                               f"(see reports/logs/{run.framework}.log)", args.device)
        print(f"{run.framework:<11} {run.wall_seconds:7.1f} s  {run.state}")
        for fault in run.faults:
            print(f"  fault: {fault}")
    print(f"all frameworks: {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.cases.store import load_manifest
    from conformance.compare.allocator import keep_freed_memory
    from conformance.compare.analyze import analyze
    from conformance.compare.explain import suspected_bugs
    from conformance.compare.load import load_runs
    from conformance.report.cards import write_cards
    from conformance.report.html import write_html
    from conformance.report.summary import summary
    from conformance.report.tables import write_bugs, write_tables
    from conformance.shards import check_mergeable

    t0 = time.perf_counter()
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    keep_freed_memory()  # analysis allocates many large temporaries (compare/allocator.py)
    _check_writable(args.out, "--out")
    cases = {c.id: c for c in load_manifest(args.cases)}
    runs = [run for root in args.runs for run in load_runs(root)]
    seen: dict[tuple[str, str], Path] = {}
    for run in runs:  # report columns are keyed by (framework, version)
        other = seen.setdefault((run.framework, run.version), run.path)
        if other != run.path:
            raise UsageError(f"{run.framework} {run.version}: two runs, {other} and "
                             f"{run.path}; report one of them")
    check_mergeable(runs, args.cases)  # runs from several machines: one case set and suite
    analysis = analyze(runs, cases, args.cases, args.jobs)
    try:
        paths = write_tables(analysis.results, analysis.discrepancies, args.out)
        paths.append(write_bugs(suspected_bugs(analysis.results, cases), args.out))
        html = write_html(analysis, args.out)
        paths += write_cards(analysis, args.out)  # reports/cards/<framework>-<version>.json
    except OSError as exc:
        raise UsageError(f"{args.out}: not writable ({exc.strerror or exc})") from None
    print(f"wrote {', '.join(str(p.relative_to(args.out)) for p in paths)} in {args.out}")
    for line in summary(analysis, time.perf_counter() - t0, html):
        print(line)
    return 0


# --- expectations gate and upgrade diff --------------------------------------------


def _add_gate_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    def measured(q: argparse.ArgumentParser) -> None:
        q.add_argument("--discrepancies", type=Path, default=Path("reports/discrepancies.csv"))
        q.add_argument("--runs", type=Path, nargs="+", default=None,
                       help="directories of runs (default: runs/ beside the table, if "
                            "present): unavailable frameworks and documentation sources")
        q.add_argument("--expectations", type=Path, default=Path("expectations"))

    gt = sub.add_parser("gate", help="fail when a behaviour differs from its expectation")
    measured(gt)
    gt.add_argument("--junit", type=Path, default=None,
                    help="JUnit XML path (default: junit.xml beside the table)")
    ex = sub.add_parser("expectations", help="maintain the reviewed expectations files")
    exs = ex.add_subparsers(dest="action", required=True)
    up = exs.add_parser("update", help="rewrite expectations from the latest results")
    measured(up)
    up.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    d = sub.add_parser("diff", help="compare two runs (current vs candidate versions)")
    d.add_argument("a", type=Path, help="baseline: run dir, dir of runs, or report dir")
    d.add_argument("b", type=Path, help="candidate: run dir, dir of runs, or report dir")
    d.add_argument("--cases", type=Path, default=Path("cases/generated"))
    d.add_argument("--out", type=Path, default=Path("reports/upgrade"))


def _runs_beside(args: argparse.Namespace) -> list[Path] | None:
    if args.runs is None and (args.discrepancies.parent / "runs").is_dir():
        return [Path(args.discrepancies.parent / "runs")]
    return [Path(r) for r in args.runs] if args.runs is not None else None


def cmd_gate(args: argparse.Namespace) -> int:
    from collections import Counter

    from conformance.expectations import (
        UNREVIEWED,
        Outcome,
        format_table,
        gate,
        load_dir,
        measure,
        verdict,
    )
    from conformance.report.junit import write_junit

    runs = _runs_beside(args)
    checks = gate(measure(args.discrepancies, runs), load_dir(args.expectations))
    junit = write_junit(checks, args.junit or args.discrepancies.parent / "junit.xml")
    failed = [c for c in checks if c.failed]
    table = format_table(checks)
    if table:
        print(table)
    unreviewed = sum(1 for c in checks if c.outcome is Outcome.OK
                     and c.detail.startswith(UNREVIEWED))
    down = sorted({c.framework for c in checks if c.outcome is Outcome.UNAVAILABLE})
    moved = Counter(d.field for c in checks for d in c.diffs)
    notes = ([f"changed fields: {', '.join(f'{k} {n}' for k, n in sorted(moved.items()))}"]
             if moved else [])
    notes += [f"unavailable: {', '.join(down)}"] if down else []
    notes += [f"{unreviewed} expectations still UNREVIEWED"] if unreviewed else []
    print("; ".join([*notes, f"wrote {junit}"]))
    if failed:
        print("review the differences, then `conformance expectations update` "
              "and fill in reason/source")
    print(verdict(checks))  # last: the one line to read
    return 1 if failed else 0


def cmd_expectations(args: argparse.Namespace) -> int:
    from conformance.expectations import load_dir, measure, unified_diff, update

    runs = _runs_beside(args)
    changes = update(measure(args.discrepancies, runs), load_dir(args.expectations),
                     args.expectations)
    print(unified_diff(changes), end="")
    changed = [p for p, (old, new) in changes.items() if old != new]
    if not args.dry_run:
        from conformance.report.files import write_text_atomic

        for path in changed:
            write_text_atomic(path, changes[path][1])
    verb = "would change" if args.dry_run else "changed"
    print(f"expectations: {len(changed)} of {len(changes)} files {verb}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from conformance.cases.store import load_manifest
    from conformance.diff import (
        diff,
        format_table,
        load_side,
        render_diff_section,
        to_csv,
        verdict,
    )
    from conformance.report.files import write_text_atomic

    manifest = args.cases / "manifest.jsonl"
    cases = {c.id: c for c in load_manifest(args.cases)} if manifest.exists() else {}
    d = diff(load_side(args.a, cases, args.cases), load_side(args.b, cases, args.cases), cases)
    print(format_table(d))
    write_text_atomic(args.out / "diff.csv", to_csv(d))
    section = render_diff_section(d)
    write_text_atomic(args.out / "diff.html",
                      "<!doctype html><meta charset='utf-8'><title>Upgrade diff</title>" + section)
    # The main report embeds the latest diff as its "Upgrade check" section.
    write_text_atomic(args.out / "section.html", section)
    print(f"wrote {args.out / 'diff.csv'} and {args.out / 'diff.html'}")
    print(verdict(d, args.out / "diff.csv"))  # last: the one line to read
    return 1 if d.changed else 0


def cmd_pack(args: argparse.Namespace) -> int:
    from conformance.pack import pack

    size = pack(args.run_dirs, args.out)
    print(f"packed {len(args.run_dirs)} run(s) into {args.out} ({size / 2**20:.1f} MiB)")
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    from conformance.pack import unpack

    for archive in args.archives:
        for run_dir in unpack(archive, args.out):
            print(f"unpacked {run_dir}")
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    from conformance.device import run_on_device

    envs = args.env or ["torch", "flax"]
    unknown = [e for e in envs if e not in ENV_BY_NAME]
    if unknown:
        raise UsageError(f"--env {unknown[0]!r}: unknown; known: {', '.join(ENV_BY_NAME)}")
    for archive in run_on_device(args.python, envs, args.devices, args.cases, args.work,
                                 args.out, args.timeout):
        print(f"packed {archive} ({archive.stat().st_size / 2**20:.1f} MiB)")
    return 0


COMMANDS = {"generate": cmd_generate, "worker": cmd_worker, "run": cmd_run,
            "report": cmd_report, "pack": cmd_pack, "unpack": cmd_unpack,
            "device": cmd_device}
COMMANDS.update({"gate": cmd_gate, "expectations": cmd_expectations, "diff": cmd_diff})


def cmd_port(args: argparse.Namespace) -> int:
    from conformance.port import cli as port_cli

    return port_cli.cmd_port(args)


def cmd_history(args: argparse.Namespace) -> int:
    from conformance.history import cli as history_cli

    return history_cli.cmd_history(args)


COMMANDS["port"] = cmd_port
COMMANDS["history"] = cmd_history


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(worker_only=argv[:1] == ["worker"]).parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"conformance: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("conformance: interrupted (rerun with --resume to continue)", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, still one line; --debug shows where
        if args.debug:
            raise
        print(f"conformance: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
