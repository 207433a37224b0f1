"""``python -m conformance.explore``: explore, judge, shrink, write up, on a wall budget.

Phases share the budget: drawing and running (55 %), shrinking (30 %), and a last round
that runs every shrunk configuration on every framework (the rest), which both confirms
each finding on its final configuration and says what the other frameworks do there.
Workers are the main run's (``orchestrate.run_all``: isolation, crash and hang handling);
a phase that runs out of time stops them, and what they finished counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import threading
import time
from collections.abc import Hashable, Mapping
from pathlib import Path

from conformance import orchestrate
from conformance.cases.model import Case
from conformance.cases.store import load_inputs
from conformance.compare.load import Run, load_runs
from conformance.explore import conventions as conv
from conformance.explore import known as known_mod
from conformance.explore.findings import Finding
from conformance.explore.group import RootCause, group
from conformance.explore.inputs import materialize
from conformance.explore.markdown import index, render, write
from conformance.explore.oracles import evaluate
from conformance.explore.pairs import status_class
from conformance.explore.sampler import draw
from conformance.explore.shrink import shrink, size


class UsageError(Exception):
    """Bad arguments: one line, exit status 2."""


def parse_budget(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise UsageError(f"--budget {text!r}: expected seconds or a number with s, m or h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _log(text: str) -> None:
    print(f"explore: {text}", file=sys.stderr, flush=True)


class Explorer:
    def __init__(self, envs: dict[str, str], work: Path, conventions: Path, jobs: int,
                 case_timeout: float) -> None:
        self.envs, self.work, self.conventions = envs, work, conventions
        self.jobs, self.case_timeout = jobs, case_timeout
        self.rounds = 0
        self.versions: dict[str, str] = {}

    def conventions_of(self, framework: str, implementation: str, op: str) -> dict[str, str]:
        return conv.conventions_of(self.conventions, framework, implementation, op)

    def run(self, cases: list[Case], frameworks: list[str], until: float
            ) -> tuple[list[Run], dict[str, Case], Path]:
        """Run ``frameworks`` on ``cases`` until ``until`` (monotonic); runs and cases."""
        self.rounds += 1
        root = self.work / f"round-{self.rounds}"
        cases_dir, out = root / "cases", root / "runs"
        materialize(cases, cases_dir)
        left = until - time.monotonic()
        workers = [(fw, self.envs[fw]) for fw in frameworks if fw in self.envs]
        jobs = self.jobs or len(workers)
        if left > 5 and workers:
            timer = threading.Timer(left, orchestrate._STOP.set)  # the phase's end
            timer.start()
            try:
                orchestrate.run_all(workers, cases_dir, out, self.case_timeout, jobs,
                                    log_dir=root / "logs")
            finally:
                timer.cancel()
        runs = load_runs(out) if out.is_dir() else []
        for r in runs:
            if not r.error:
                self.versions[r.framework] = r.version
        return runs, {c.id: c for c in cases}, cases_dir

    def findings(self, cases: list[Case], frameworks: list[str], until: float
                 ) -> tuple[list[Finding], list[Run], Path]:
        runs, by_id, cases_dir = self.run(cases, frameworks, until)
        return evaluate(runs, by_id, cases_dir, self.conventions_of), runs, cases_dir


def _shrink_starts(found: list[Finding], cases: Mapping[str, Case], limit: int
                   ) -> dict[Hashable, Case]:
    """One start per finding key (its smallest case), at most ``limit`` keys, one per
    (kind, framework, check) first so every kind of finding gets shrunk."""
    best: dict[Hashable, Case] = {}
    for f in found:
        c = cases[f.case_id]
        if f.key not in best or size(c) < size(best[f.key]):
            best[f.key] = c
    order = sorted(best, key=lambda k: (size(best[k]), str(k)))
    seen: set[tuple[str, str, str]] = set()
    first: list[Hashable] = []
    rest: list[Hashable] = []
    for k in order:
        tag = (k[0], k[1], k[3])  # type: ignore[index]
        (rest if tag in seen else first).append(k)
        seen.add(tag)
    return {k: best[k] for k in (first + rest)[:limit]}


def _needed(keys: list[Hashable]) -> list[str]:
    """The frameworks that decide ``keys``, and the reference row that calibrates them."""
    fws = {k[1] for k in keys} | {"numpy"}  # type: ignore[index]
    fws |= {k[4].split(":", 1)[0] for k in keys if k[4]}  # type: ignore[index]
    return sorted(fws)


def explore(args: argparse.Namespace, envs: dict[str, str]) -> int:
    t0 = time.monotonic()
    budget = parse_budget(args.budget)
    if args.conventions is None:
        cards = Path("reports/cards")
        args.conventions = cards if cards.is_dir() else Path("reports/discrepancies.csv")
    conv.check_source(args.conventions)
    known = known_mod.load(args.known)
    work = Path(args.work or tempfile.mkdtemp(prefix="explore-"))
    ex = Explorer(envs, work, args.conventions, args.jobs, args.case_timeout)
    frameworks = sorted(envs)
    drawn = draw(args.seed, args.count)
    regress = [k.case for k in known if k.case is not None]
    _log(f"seed {args.seed}: {len(drawn)} configurations drawn, {len(regress)} known "
         f"findings' cases; frameworks {', '.join(frameworks)}; work dir {work}")
    found, runs, _ = ex.findings(regress + drawn, frameworks, t0 + 0.55 * budget)
    cases = {c.id: c for c in regress + drawn}
    _log(f"{len(found)} findings on {len({f.case_id for f in found})} configurations "
         f"({time.monotonic() - t0:.0f} s)")

    starts = _shrink_starts(found, cases, args.shrink_limit)
    shrink_end = t0 + 0.85 * budget

    def shows(batch: list[Case]) -> dict[str, set[Hashable]]:
        fs, _, _ = ex.findings(batch, _needed(list(starts)), shrink_end)
        cases.update({c.id: c for c in batch})
        out: dict[str, set[Hashable]] = {}
        for f in fs:
            out.setdefault(f.case_id, set()).add(f.key)
        return out

    shrunk = shrink(starts, shows, rounds=args.shrink_rounds,
                    more_time=lambda: time.monotonic() < shrink_end - 20)
    _log(f"shrunk {len(shrunk)} findings ({time.monotonic() - t0:.0f} s)")

    final_cases = list({c.id: c for c in shrunk.values()}.values())
    final, final_runs, final_dir = ex.findings(final_cases, frameworks, t0 + budget)
    confirmed = {(f.key, f.case_id) for f in final}
    keep = [f for f in final if (f.key, f.case_id) in {(k, c.id) for k, c in shrunk.items()}]
    # A finding whose shrunk case did not run in time keeps its original configurations.
    kept_keys = {f.key for f in keep}
    keep += [f for f in found if f.key not in kept_keys]
    cases.update({c.id: c for c in final_cases})
    _log(f"final round: {len(confirmed)} findings confirmed ({time.monotonic() - t0:.0f} s)")
    causes = group(keep, cases)
    verdict = known_mod.classify(causes, known, {r.framework for r in runs if not r.error})
    _write(args, ex, causes, verdict, final_runs, final_dir, cases, time.monotonic() - t0)
    return 0


def _others(rc: RootCause, runs: list[Run]) -> dict[tuple[str, str], str]:
    assert rc.case is not None
    out: dict[tuple[str, str], str] = {}
    for run in runs:
        for r in run.results:
            if r["case_id"] == rc.case.id:
                outputs = run.outputs(r) if r["status"] == "ok" else None
                out[(run.framework, r["implementation"])] = status_class(r, outputs)
    return out


def _write(args: argparse.Namespace, ex: Explorer, causes: list[RootCause],
           verdict: known_mod.Verdict, runs: list[Run], cases_dir: Path,
           cases: Mapping[str, Case], seconds: float) -> None:
    out = Path(args.out)
    files: dict[str, str] = {}
    known_by = {rc.signature: k for rc, k in verdict.still}
    for rc in causes:
        assert rc.case is not None
        try:
            inputs = load_inputs(cases_dir, rc.case)
        except ValueError:
            inputs = None
        first = rc.findings[0]
        text = render(rc, ex.versions, ex.conventions_of(rc.framework, first.implementation,
                                                           first.op),
                      inputs, _others(rc, runs), args.seed, known_by.get(rc.signature))
        files[rc.signature] = f"{rc.slug}.md"
        write(out, files[rc.signature], text)
    header = [f"Seed {args.seed}, budget {args.budget}, {seconds:.0f} s wall, frameworks: "
              + ", ".join(f"{fw} {v}" for fw, v in sorted(ex.versions.items())) + ".",
              "Reproduce: `nox -s explore -- --budget "
              f"{args.budget} --seed {args.seed}`."]
    write(out, "README.md", index(verdict, files, header))
    # Every finding with its configuration, for regrouping or review without a rerun.
    write(out, "findings.jsonl", "".join(
        json.dumps({**dataclasses.asdict(f), "signature": rc.signature,
                    "case": cases[f.case_id].to_json()}, sort_keys=True) + "\n"
        for rc in causes for f in rc.findings if f.case_id in cases))
    for rc in verdict.new:
        print(f"NEW   {rc.summary()}  -> {out / files[rc.signature]}")
    for rc, k in verdict.still:
        print(f"KNOWN {rc.summary()} ({k.triage})")
    for k in verdict.gone:
        print(f"GONE  {k.signature} ({k.triage})")
    print(f"explore: {len(verdict.new)} new, {len(verdict.still)} known, "
          f"{len(verdict.gone)} gone; {seconds:.0f} s; reports in {out}")
