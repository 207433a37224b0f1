"""Run planted implementations through the real worker steps and the real analysis.

The run directory is written with the worker's own pieces (``runner.header``,
``runner.Writer``, ``runner.run_one``), read back with ``compare.load`` and
analysed with ``compare.analyze``, so the meta-tests see the behaviour table a
report would print, not a shortcut into the fit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from conformance.adapters.base import Adapter
from conformance.cases.model import Case
from conformance.cases.store import load_inputs, load_manifest
from conformance.compare.analyze import Analysis, analyze
from conformance.compare.load import load_runs
from conformance.runner import RESULTS, Writer, header, run_dir_name, run_one
from conformance.spec import BEHAVIOUR_BY_NAME, INCONCLUSIVE, UNDECIDED, Status

# By implementation row (qualified name), the inferred value of each behaviour.
Table = dict[str, dict[str, str]]


def write_run(adapter: Adapter, cases_dir: Path, out_root: Path) -> Path:
    """What ``runner.run_worker`` writes for ``adapter`` (which it cannot be handed)."""
    version = adapter.version()
    run_dir = out_root / run_dir_name(adapter.framework, version)
    writer = Writer(run_dir / RESULTS, None)
    writer.write({**header(adapter, version), "started": time.time()})
    for claim in adapter.documented():
        writer.write({"kind": "doc", "framework": adapter.framework, **claim.to_json()})
    impls = adapter.implementations()
    for case in load_manifest(cases_dir):
        todo = [i for i in impls if i.op == case.op]
        if not todo:
            continue
        inputs = load_inputs(cases_dir, case)
        for impl in todo:
            writer.write({"kind": "start", "case_id": case.id, "base": impl.name,
                          "implementation": impl.qualify(case), "op": case.op})
            writer.write(run_one(impl, case, inputs, adapter, run_dir / "outputs"))
    writer.write({"kind": "end", "finished": time.time()})
    writer.close()
    return run_dir


def run_and_analyze(adapter: Adapter, cases: Iterable[Case], cases_dir: Path,
                    out_root: Path) -> Analysis:
    write_run(adapter, cases_dir, out_root)
    return analyze(load_runs(out_root), {c.id: c for c in cases}, cases_dir)


def table(analysis: Analysis) -> Table:
    """The ``actual`` column of the discrepancy table, by row and behaviour."""
    out: Table = {}
    for d in analysis.discrepancies:
        out.setdefault(d["implementation"], {})[d["behaviour"]] = d["actual"]
    return out


def same_value(behaviour: str, found: str, expected: str) -> bool:
    """Equal, or within 1 % for numbers (defaults, floors), as ``analyze.agreement`` reads."""
    if found == expected:
        return True
    numeric = BEHAVIOUR_BY_NAME[behaviour].values is None
    prefix = "clamped_to:"
    if not numeric:
        if not (found.startswith(prefix) and expected.startswith(prefix)):
            return False
        found, expected = found[len(prefix):], expected[len(prefix):]
    try:
        f, e = float(found), float(expected)
    except ValueError:
        return False
    return math.isclose(f, e, rel_tol=1e-2)


def wrong_planted(found: Mapping[str, str], planted: Mapping[str, str]) -> list[str]:
    """Planted behaviours not recovered: a wrong value, or no value at all.

    ``inconclusive`` is an honest answer; ``not_measured`` is not, since the
    default case set is meant to measure every behaviour a plant touches.
    """
    problems = []
    for behaviour, want in planted.items():
        got = found.get(behaviour)
        if got is None:
            problems.append(f"{behaviour}: not inferred (planted {want})")
        elif got != INCONCLUSIVE and not same_value(behaviour, got, want):
            problems.append(f"{behaviour}: inferred {got}, planted {want}")
    return problems


def wrong_others(found: Mapping[str, str], truth: Mapping[str, str]) -> list[str]:
    """Behaviours with a known truth that are reported as a different definite value."""
    return [f"{b}: inferred {found[b]}, truth {want}" for b, want in truth.items()
            if b in found and found[b] not in UNDECIDED and not same_value(b, found[b], want)]


def mismatches(analysis: Analysis, rows: Iterable[str]) -> list[str]:
    """The MISMATCH checks of ``rows``, one line each."""
    wanted = set(rows)
    return [f"{r['implementation']} {r['case_id']} {r['check']}: {r['detail'] or r['max_rel_err']}"
            for r in analysis.results
            if r["implementation"] in wanted and r["status"] == Status.MISMATCH.value]
