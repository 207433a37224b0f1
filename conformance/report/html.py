"""The HTML report: one self-contained page (reports/index.html), readable offline.

Sections: runs, the compatibility matrix with per-cell detail views, pictures
(running-statistic trajectories, error distributions), and the porting summary
(verified parameter translations and NumPy export functions). CSS, script and
SVG are inline; nothing is fetched at view time. The page is a pure function of
the :class:`Analysis` (which carries the case store for charts and snippets).
Every string that came from a framework goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
from conformance.report.porting import (
    export,
    load_ports,
    pair_verdicts,
    port_frameworks,
    representative,
)
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


def _verdict(v: Mapping[str, Any]) -> str:
    g = v.get("grade")
    kind = "not-run" if g is None else {"exact": "verified", "float32": "verified",
                                        "approximate": "approximate"}.get(g["grade"], "failed")
    return f"<td class='{kind}'>{e(str(v.get('text', '')))}</td>"


def _pairs(data: ReportData, ports: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    """Each ordered pair of real frameworks with the verdicts ``conformance port`` got by
    running both (reports/ports/), or a plain "not run"."""
    rows = []
    for p in pair_verdicts(port_frameworks(data), ports):
        head = f"<td>{e(p.source)}</td><td>{e(p.target)}</td>"
        if p.port is None:
            rows.append(f"<tr>{head}<td colspan='3' class='muted'>{e(p.why_not)}</td></tr>")
            continue
        r = p.port
        args = ", ".join(f"{k}={v!r}" for k, v in (r.get("arguments") or {}).items())
        notes = "".join(f"<li>{e(str(n))}</li>" for n in r.get("cannot_carry_over", []))
        change = (f"<code>{e(str(r['source']))}</code> &rarr; <code>"
                  f"{e(str(r['target']).split('[', 1)[0])}({e(args)})</code>"
                  + (f"<br>cannot carry over:<ul>{notes}</ul>" if notes else ""))
        rows.append(f"<tr>{head}<td>{change}</td>{_verdict(r.get('inference', {}))}"
                    f"{_verdict(r.get('training', {}))}</tr>")
    if not rows:
        return "<p class='muted'>Fewer than two frameworks ran batch norm.</p>"
    return ("<p class='muted'>Verdicts from running both frameworks (<code>conformance "
            "port</code>): the trained source's variables loaded into the target, the "
            "target's own outputs compared on the suite's cases; inference, and training "
            "continued in both from the same state.</p>"
            "<table class='small porting'><thead><tr><th>from</th><th>to</th>"
            "<th>what to change</th><th>inference port</th><th>training port</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _porting(data: ReportData,
             ports: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> str:
    table = _pairs(data, ports or {})
    exports = []
    for col in representative(data):
        x = export(data, col)
        exports.append(
            f"<h4>{e(col.framework)} {e(col.version)} <code>{e(col.implementation)}</code> — "
            f"<span class='{x.status}'>{x.status}</span> <span class='muted'>on "
            f"{x.passed}/{x.total} cases against the measured y_eval, fed the layer's own "
            f"final running statistics{'; ' + e(x.worst) if x.worst else ''}</span></h4>"
            f"<pre class='code'>{e(x.code)}</pre>")
    return (table + "<h3>Inference in plain NumPy from exported variables</h3>"
            "<p class='muted'>The oracle's own code (<code>conformance.oracle.batchnorm."
            "inference</code> and the functions it calls, rendered from their source), "
            "with the conventions measured for the layer bound as <code>CONVENTIONS</code>."
            "</p>"
            + "".join(exports))


def render(analysis: Analysis, upgrade_section: str = "",
           ports: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
           history_section: str = "") -> str:
    """The whole page; ``upgrade_section`` is the escaped HTML of the latest upgrade diff,
    ``ports`` the verified ports by framework pair (``porting.load_ports``),
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
        f"<h2>Porting batch norm between frameworks</h2>{_porting(data, ports)}"
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
    write_text_atomic(path, render(analysis, upgrade, load_ports(out / "ports"),
                                   history.read_text(encoding="utf-8")
                                   if history.exists() else ""))
    return path
