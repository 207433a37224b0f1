"""The HTML report: one self-contained page (reports/index.html), readable offline.

Sections: runs, the compatibility matrix with per-cell detail views, pictures
(running-statistic trajectories, error distributions), and the porting summary
(verified parameter translations and NumPy export functions). CSS, script and
SVG are inline; nothing is fetched at view time. The page is a pure function of
the :class:`Analysis` (which carries the case store for charts and snippets).
Every string that came from a framework goes through ``html.escape``.
"""

from __future__ import annotations

from pathlib import Path

from conformance.compare.analyze import Analysis
from conformance.compare.explain import (
    framework_errors,
    named_error_cases,
    suspected_bugs,
    unexplained,
)
from conformance.report.assets import CSS, JS
from conformance.report.bugs import errors_section, section
from conformance.report.data import ReportData
from conformance.report.detail import e
from conformance.report.figures import error_strips, trajectories
from conformance.report.files import write_text_atomic
from conformance.report.matrix import controls, op_table
from conformance.report.porting import export, representative, translations
from conformance.spec import OPS


def _runs(analysis: Analysis) -> str:
    items = []
    for r in analysis.runs:
        h = r.header
        facts = ", ".join(f"{k} {h[k]}" for k in ("python", "platform", "device") if h.get(k))
        err = f" — <b class='failed'>ERROR</b> {e(r.error)}" if r.error else ""
        items.append(f"<li><b>{e(r.framework)} {e(r.version)}</b> "
                     f"<span class='muted'>{e(facts)}</span>{err}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _porting(data: ReportData) -> str:
    rows = []
    for t in translations(data):
        items = "".join(
            f"<li><b>{e(i.topic)}</b>: {e(i.rule)} — <span class='{i.status}'>{i.status}"
            f"</span> <span class='muted'>({i.passed}/{i.total} cases"
            f"{'; ' + e(i.worst) if i.worst else ''})</span></li>" for i in t.items)
        rows.append(f"<tr><td>{e(t.source.framework)} {e(t.source.version)}<br>"
                    f"<code>{e(t.source.implementation)}</code></td>"
                    f"<td>{e(t.target.framework)} {e(t.target.version)}<br>"
                    f"<code>{e(t.target.implementation)}</code></td>"
                    f"<td class='{t.status}'>{t.status}</td><td><ul>{items}</ul></td></tr>")
    table = ("<table class='small porting'><thead><tr><th>reproduce</th><th>in</th>"
             "<th>overall</th><th>translation (checked with the oracle under the target's "
             "inferred conventions against the source's measured running stats and y_eval)"
             f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
             if rows else "<p class='muted'>Fewer than two frameworks ran batch norm.</p>")
    exports = []
    for col in representative(data):
        x = export(data, col)
        exports.append(
            f"<h4>{e(col.framework)} {e(col.version)} <code>{e(col.implementation)}</code> — "
            f"<span class='{x.status}'>{x.status}</span> <span class='muted'>on "
            f"{x.passed}/{x.total} cases against the measured y_eval, fed the layer's own "
            f"final running statistics{'; ' + e(x.worst) if x.worst else ''}</span></h4>"
            f"<pre class='code'>import numpy as np\n\n{e(x.code)}</pre>")
    return (table + "<h3>Inference in plain NumPy from exported variables</h3>"
            + "".join(exports))


def render(analysis: Analysis, upgrade_section: str = "", history_section: str = "") -> str:
    """The whole page; ``upgrade_section`` is the escaped HTML of the latest upgrade diff,
    ``history_section`` the change points of ``nox -s history`` (``reports/history/``)."""
    data = ReportData(analysis)
    errors = framework_errors(analysis.results, analysis.cases,
                              named_error_cases(analysis.rows))
    details: list[str] = []
    tables = "".join(op_table(data, op, details) for op in OPS)
    disagree = sum(1 for d in analysis.discrepancies if d["agrees"] == "no")
    mismatches = sum(1 for r in analysis.results if r["status"] == "MISMATCH")
    summary = (f"{len(data.columns)} implementation rows, {len(analysis.discrepancies)} "
               f"behaviour values, {disagree} contradict their documentation; "
               f"{len(analysis.results)} checks, {mismatches} mismatches, "
               f"{len(unexplained(analysis.results))} of them unexplained.")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<title>Conformance report</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>Conformance report</h1><p>{e(summary)}</p>"
        f"<h2>Runs</h2>{_runs(analysis)}"
        f"<h2 id='matrix'>Behaviour matrix</h2>{controls(data)}{tables}"
        f"<h2 id='unexplained'>Unexplained mismatches</h2>"
        f"{section(data, suspected_bugs(analysis.results, analysis.cases))}"
        f"<h3 id='errors'>Framework errors no behaviour names</h3>"
        f"{errors_section(data, errors)}"
        f"<h2>Running statistics over training steps</h2>{trajectories(data)}"
        f"<h2>Error distribution</h2>{error_strips(data)}"
        f"<h2>Porting batch norm between frameworks</h2>{_porting(data)}"
        + (f"<h2 id='upgrade'>Upgrade check</h2>{upgrade_section}" if upgrade_section else "")
        + (f"<h2 id='history'>Behaviour history</h2>{history_section}" if history_section
           else "")
        + "<aside id='panel' hidden><button class='close' type='button'>close ✕</button>"
        "<div id='panel-body'></div></aside>"
        f"<div id='details' hidden>{''.join(details)}</div>"
        f"<script>{JS}</script></body></html>")


def write_html(analysis: Analysis, out: Path) -> Path:
    path = out / "index.html"
    section = out / "upgrade" / "section.html"
    upgrade = section.read_text(encoding="utf-8") if section.exists() else ""
    history = out / "history" / "section.html"
    write_text_atomic(path, render(analysis, upgrade, history.read_text(encoding="utf-8")
                                   if history.exists() else ""))
    return path
