"""Two runs side by side: what an upgrade would change, before it is made.

``A`` is the baseline (the current pins), ``B`` the candidate. Either side is a
run directory (``<framework>-<version>-py<X.Y>-<platform>[-cuda]/``), a directory of
run directories, or a report directory (``discrepancies.csv``, with its runs
under ``runs/`` if present). Only frameworks present on both sides are compared.

Like a web-platform-tests run diff, rows are listed regressions first:

* ``behaviour``  an inferred behaviour has a different value (``removed`` and
  ``added`` for rows measured on one side only),
* ``status``     a (case, implementation) ran on one side and not the other,
* ``drift``      both ran, and an output moved by more than the case tolerance,
* ``mask``       a dropout mask differs: the framework's random stream changed,
  which is not a behaviour (informational).

Any behaviour row, or any regression, means the upgrade changes what the
project reports, so :func:`changed` makes the command exit non-zero.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Case
from conformance.cases.tolerances import tolerance_for
from conformance.compare.errors import compare
from conformance.compare.load import Run, load_run, load_runs
from conformance.expectations import read_discrepancies, same_value
from conformance.runner import RESULTS

# Outputs drawn from the framework's random stream: only kept elements are compared.
_STOCHASTIC = frozenset({("dropout", "y_train")})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Keras colours its exception messages
_KIND_ORDER = {"behaviour": 0, "removed": 1, "added": 2, "status": 3, "drift": 4, "mask": 5}
DIFF_COLUMNS = ("kind", "regression", "framework", "implementation", "subject", "before",
                "after", "detail")


@dataclass(frozen=True)
class DiffRow:
    kind: str
    framework: str
    implementation: str
    subject: str  # a behaviour, or "<case id>" / "<case id>:<output>"
    before: str
    after: str
    detail: str = ""
    regression: bool = False


@dataclass
class Side:
    label: str
    runs: list[Run]
    discrepancies: list[dict[str, Any]]

    @property
    def versions(self) -> dict[str, str]:
        out = {r.framework: r.version for r in self.runs if not r.error}
        for d in self.discrepancies:
            out.setdefault(d["framework"], d["framework_version"])
        return out


@dataclass
class Diff:
    a: Side
    b: Side
    rows: list[DiffRow] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    compared_behaviours: int = 0
    compared_outputs: int = 0

    @property
    def changed(self) -> bool:
        return any(r.regression or r.kind in ("behaviour", "added", "removed")
                   for r in self.rows)


def load_side(path: Path, cases: Mapping[str, Case], cases_dir: Path) -> Side:
    """Read one side; runs without a discrepancy table are analyzed here."""
    if (path / RESULTS).exists():
        runs = [load_run(path)]
    elif (path / "discrepancies.csv").exists():
        runs = load_runs(path / "runs") if (path / "runs").is_dir() else []
        return Side(str(path), runs, list(read_discrepancies(path / "discrepancies.csv")))
    elif path.is_dir() and any((p / RESULTS).exists() for p in path.iterdir()):
        runs = load_runs(path)
    else:
        raise ValueError(f"{path}: neither a run directory, a directory of runs, "
                         f"nor a report directory")
    from conformance.compare.analyze import analyze

    if not cases:
        raise ValueError(f"{cases_dir}: no case manifest (run `conformance generate`)")
    return Side(str(path), runs, analyze(runs, cases, cases_dir).discrepancies)


def _behaviour_rows(a: Side, b: Side, frameworks: set[str]) -> tuple[list[DiffRow], int]:
    def index(side: Side) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(d["framework"], d["implementation"], d["behaviour"]): d
                for d in side.discrepancies if d["framework"] in frameworks}

    ia, ib = index(a), index(b)
    rows = []
    for key in sorted(ia.keys() | ib.keys()):
        fw, impl, beh = key
        da, db = ia.get(key), ib.get(key)
        if da is None and db is not None:
            rows.append(DiffRow("added", fw, impl, beh, "", db["actual"], db["agrees"]))
        elif db is None and da is not None:
            rows.append(DiffRow("removed", fw, impl, beh, da["actual"], "", da["agrees"],
                                regression=True))
        elif da is not None and db is not None and not same_value(beh, da["actual"],
                                                                  db["actual"]):
            worse = da["agrees"] == "yes" and db["agrees"] != "yes"
            rows.append(DiffRow("behaviour", fw, impl, beh, da["actual"], db["actual"],
                                f"agrees with documentation: {da['agrees']} -> {db['agrees']}",
                                regression=worse))
    return rows, len(ia.keys() & ib.keys())


def _output_rows(a: Side, b: Side, frameworks: set[str],
                 cases: Mapping[str, Case]) -> tuple[list[DiffRow], int]:
    def index(side: Side) -> dict[tuple[str, str, str], tuple[Run, dict[str, Any]]]:
        return {(run.framework, r["implementation"], r["case_id"]): (run, r)
                for run in side.runs if run.framework in frameworks and not run.error
                for r in run.results}

    ia, ib = index(a), index(b)
    rows: list[DiffRow] = []
    compared = 0
    for key in sorted(ia.keys() & ib.keys()):
        fw, impl, case_id = key
        (ra, a_rec), (rb, b_rec) = ia[key], ib[key]
        sa, sb = a_rec["status"], b_rec["status"]
        if sa != sb:
            reason = b_rec.get("reason") or (b_rec.get("error") or {}).get("message", "")
            reason = _ANSI.sub("", str(reason)).strip()
            rows.append(DiffRow("status", fw, impl, case_id, sa, sb, reason[:200],
                                regression=sa == "ok"))
            continue
        case = cases.get(case_id)
        if sa != "ok" or case is None:
            continue
        oa, ob = ra.outputs(a_rec), rb.outputs(b_rec)
        for name in sorted(oa.keys() & ob.keys()):
            compared += 1
            rows += _compare_output(fw, impl, case, name, xa=oa[name], xb=ob[name])
    return rows, compared


def _compare_output(fw: str, impl: str, case: Case, name: str, *, xa: np.ndarray,
                    xb: np.ndarray) -> list[DiffRow]:
    subject = f"{case.id}:{name}"
    rows = []
    if (case.op, name) in _STOCHASTIC and xa.shape == xb.shape:
        ka, kb = xa != 0, xb != 0
        if not np.array_equal(ka, kb):
            rows.append(DiffRow("mask", fw, impl, subject, f"{int(ka.sum())} kept",
                                f"{int(kb.sum())} kept",
                                f"{int((ka != kb).sum())} of {ka.size} mask elements differ"))
        both = ka & kb
        xa, xb = np.where(both, xa, 0), np.where(both, xb, 0)
    tol = tolerance_for(case, name)
    c = compare(xb, xa, tol)
    if not c.passed:
        rows.append(DiffRow("drift", fw, impl, subject, "", "",
                            f"max abs {c.max_abs:.3g}, max rel {c.max_rel:.3g}, "
                            f"{c.ratio:.3g}x the tolerance ({tol.describe()}, "
                            f"{case.dtype}, shape {xa.shape})", regression=True))
    return rows


def diff(a: Side, b: Side, cases: Mapping[str, Case]) -> Diff:
    frameworks = set(a.versions) & set(b.versions)
    behaviour, nb = _behaviour_rows(a, b, frameworks)
    outputs, no = _output_rows(a, b, frameworks, cases)
    rows = sorted(behaviour + outputs,
                  key=lambda r: (not r.regression, _KIND_ORDER[r.kind], r.framework,
                                 r.implementation, r.subject))
    return Diff(a, b, rows, sorted(frameworks), nb, no)


def summary(d: Diff) -> str:
    va, vb = d.a.versions, d.b.versions
    pairs = ", ".join(f"{fw} {va[fw]} -> {vb[fw]}" for fw in d.frameworks) or "nothing in common"
    counts: dict[str, int] = {}
    for r in d.rows:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(),
                                                    key=lambda kv: _KIND_ORDER[kv[0]]))
    regressions = sum(r.regression for r in d.rows)
    return (f"{pairs}: {d.compared_behaviours} behaviours and {d.compared_outputs} outputs "
            f"compared; {found or 'no differences'}"
            + (f" ({regressions} regressions)" if regressions else ""))


def verdict(d: Diff, where: Path) -> str:
    """The one line the upgrade check ends with: did behaviour change, and where the rows are."""
    behaviour = sum(r.kind in ("behaviour", "added", "removed") for r in d.rows)
    regressions = sum(r.regression for r in d.rows)
    if d.changed:
        return (f"behaviour changed: {behaviour} behaviour row{'s' if behaviour != 1 else ''}, "
                f"{regressions} regression{'s' if regressions != 1 else ''}; see {where}")
    n = len(d.rows)
    return (f"no behaviour change ({n} informational difference{'s' if n != 1 else ''}); "
            f"see {where}" if n else "no behaviour change")


def format_table(d: Diff, limit: int = 50) -> str:
    table = [("", "kind", "framework", "implementation", "subject", "before", "after")]
    table += [("!" if r.regression else "", r.kind, r.framework, r.implementation, r.subject,
               r.before or "-", r.after or "-") for r in d.rows[:limit]]
    widths = [min(44, max(len(row[i]) for row in table)) for i in range(len(table[0]))]
    lines = [summary(d)]
    if d.rows:
        lines += ["  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                  for row in table]
    if len(d.rows) > limit:
        lines.append(f"... and {len(d.rows) - limit} more (see the CSV)")
    return "\n".join(lines)


def to_csv(d: Diff) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DIFF_COLUMNS)
    for r in d.rows:
        w.writerow([r.kind, "yes" if r.regression else "no", r.framework, r.implementation,
                    r.subject, r.before, r.after, r.detail])
    return buf.getvalue()


def render_diff_section(d: Diff) -> str:
    """An HTML ``<section>`` for the report page; every framework string is escaped."""
    esc = html.escape
    head = "".join(f"<th>{c}</th>" for c in DIFF_COLUMNS)
    body = "".join(
        f"<tr class='{'no' if r.regression else ''}'>"
        + "".join(f"<td>{esc(v)}</td>" for v in (
            r.kind, "yes" if r.regression else "", r.framework, r.implementation, r.subject,
            r.before, r.after, r.detail))
        + "</tr>" for r in d.rows)
    table = (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
             if d.rows else "<p>No differences.</p>")
    return (f"<section id='upgrade-diff'><h2>Upgrade diff</h2>"
            f"<p>{esc(d.a.label)} &rarr; {esc(d.b.label)}</p><p>{esc(summary(d))}</p>"
            f"{table}</section>")
