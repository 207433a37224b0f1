"""The detail view of one matrix cell: documentation, inference, fit, evidence, snippet.

Rendered in Python as hidden HTML (every framework string through
``html.escape``); the page's script only shows and hides it.
"""

from __future__ import annotations

import html
from typing import Any

from conformance.report.data import Column, ReportData
from conformance.report.snippets import snippet
from conformance.spec import BEHAVIOUR_BY_NAME

MAX_EVIDENCE = 6


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def detail_anchor(index: int, behaviour: str) -> str:
    """The id of a matrix cell's detail view (``index``: the row's place in the analysis);
    ``index.html#<id>`` opens it, and the convention cards link to it."""
    return f"d-{index}-{behaviour}"


def source_html(doc: dict[str, Any]) -> str:
    """A link for web sources (http/https only), plain escaped text for anything else."""
    src = str(doc.get("source", ""))
    if src.startswith(("https://", "http://")):
        return f"<a href='{e(src)}' rel='noreferrer noopener'>{e(src)}</a>"
    return f"<code>{e(src)}</code>"


def _documented(doc: dict[str, Any] | None) -> str:
    if doc is None:
        return "<p><b>Documented:</b> <i>nothing found</i> (undocumented)</p>"
    verified = {True: "quote found in the installed docstring",
                False: "quote NOT found in the installed docstring (stale?)",
                None: "web source, not checked against the installed package"}.get(
        doc.get("verified"), "unknown")
    quote = f"<blockquote>{e(doc['quote'])}</blockquote>" if doc.get("quote") else ""
    return (f"<p><b>Documented:</b> <code>{e(doc.get('value'))}</code> — source "
            f"{source_html(doc)} <span class='muted'>({e(verified)})</span></p>{quote}")


def _checks_table(data: ReportData, col: Column, case_ids: list[str]) -> str:
    rows = []
    for cid in case_ids[:MAX_EVIDENCE]:
        case = data.cases.get(cid)
        note = f" <span class='muted'>{e(case.note)}</span>" if case else ""
        checks = data.checks(col, cid)
        if not checks:
            rows.append(f"<tr><td>{e(cid)}{note}</td><td colspan='6' class='muted'>"
                        "no check rows</td></tr>")
        for r in checks:
            rows.append(
                f"<tr><td>{e(cid)}{note}</td><td>{e(r['check'])}</td>"
                f"<td class='st-{e(r['status'])}'>{e(r['status'])}</td>"
                f"<td>{e(r['max_abs_err'])}</td><td>{e(r['max_rel_err'])}</td>"
                f"<td>{e(r['tolerance'])}</td><td>{e(r['detail'])}</td></tr>")
    if not rows:
        return "<p class='muted'>No evidence cases.</p>"
    return ("<table class='small'><thead><tr><th>case</th><th>check</th><th>status</th>"
            "<th>max abs err</th><th>max rel err</th><th>tolerance</th><th>detail</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def detail_html(data: ReportData, col: Column, behaviour: str, cell_id: str) -> str:
    f = col.finding(behaviour)
    b = BEHAVIOUR_BY_NAME[behaviour]
    doc = col.row.documented.get(behaviour)
    actual = f.actual if f else "not_measured"
    majority = data.majority.get(behaviour)
    parts = [
        f"<div class='detail' id='{e(cell_id)}' hidden>",
        f"<h3>{e(col.implementation)} <span class='muted'>{e(col.framework)} "
        f"{e(col.version)}</span></h3>",
        f"<p><b>{e(behaviour)}</b>: {e(b.meaning)}</p>",
        _documented(doc),
        f"<p><b>Inferred:</b> <code>{e(actual)}</code> — agrees with the documentation: "
        f"<b>{e(col.agrees(behaviour))}</b>; majority of frameworks: "
        f"<code>{e(majority or 'none')}</code></p>",
    ]
    if f and f.note:
        parts.append(f"<p class='muted'>{e(f.note)}</p>")
    if f and f.residuals:
        rows = "".join(
            f"<tr{' class=chosen' if v == actual else ''}><td><code>{e(v)}</code></td>"
            f"<td>{e(s)}</td></tr>" for v, s in f.residuals.items())
        parts.append("<h4>Fit: score of each candidate value</h4><table class='small'>"
                     f"<thead><tr><th>value</th><th>best candidate's score</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    evidence = list(f.evidence) if f and f.evidence else []
    parts.append(f"<h4>Evidence cases{'' if evidence else ' (none decisive; first cases run)'}"
                 "</h4>")
    case_ids = evidence or data.case_ids_of(col)
    parts.append(_checks_table(data, col, case_ids))
    case = next((data.cases[c] for c in case_ids if c in data.cases), None)
    if case is not None:
        code = snippet(col.framework, col.implementation, case, data.inputs(case.id))
        parts.append(f"<h4>Reproduce with {e(col.framework)} alone <button class='copy' "
                     "type='button'>copy</button></h4>"
                     f"<pre class='snippet'>{e(code)}</pre>")
    parts.append("</div>")
    return "".join(parts)
