"""The compatibility matrix: one table per op, behaviours down, implementations across.

Columns are grouped by framework and version (caniuse style). Each cell shows
the inferred value; its colour says whether it agrees with the documentation,
a dashed outline that it differs from the majority of frameworks. Filtering,
sorting and search read the ``data-*`` attributes written here.
"""

from __future__ import annotations

from itertools import groupby

from conformance.report.data import UNMEASURED, Column, ReportData
from conformance.report.detail import detail_html, e
from conformance.spec import OPS, behaviours_for

STATUSES = ("yes", "no", "undocumented", "untested")
OP_TITLES = {"batchnorm": "Batch normalization", "dropout": "Dropout",
             "centering": "Centering (mean-only and affine flags)"}


def majority_state(data: ReportData, behaviour: str, actual: str) -> str:
    majority = data.majority.get(behaviour)
    if majority is None or actual in UNMEASURED:
        return "none"
    return "agrees" if actual == majority else "differs"


def _cell(data: ReportData, col: Column, behaviour: str, details: list[str]) -> str:
    f = col.finding(behaviour)
    doc = col.row.documented.get(behaviour)
    if f is None or (f.actual == "not_measured" and doc is None):
        return (f"<td class='cell empty' data-fw='{e(col.framework)}' data-status='none' "
                "data-majority='none'>—</td>")
    status = col.agrees(behaviour)
    maj = majority_state(data, behaviour, f.actual)
    cell_id = f"d-{col.index}-{behaviour}"
    details.append(detail_html(data, col, behaviour, cell_id))
    doc_text = f"documented {doc['value']}" if doc else "undocumented"
    title = f"{col.implementation}: {behaviour} = {f.actual} ({doc_text}; majority {maj})"
    marker = "<sup class='mk'>≠</sup>" if maj == "differs" else ""
    return (f"<td class='cell a-{status} m-{maj}' tabindex='0' data-fw='{e(col.framework)}' "
            f"data-status='{status}' data-majority='{maj}' data-detail='{e(cell_id)}' "
            f"title='{e(title)}'>{e(f.actual)}{marker}</td>")


def op_table(data: ReportData, op: str, details: list[str]) -> str:
    cols = [c for c in data.columns if c.op == op]
    if not cols:
        return ""
    groups = "".join(
        f"<th class='grp' data-fw='{e(fw)}' colspan='{len(list(g))}'>{e(fw)} {e(v)}</th>"
        for (fw, v), g in groupby(cols, key=lambda c: (c.framework, c.version)))
    heads = "".join(
        f"<th class='impl' data-fw='{e(c.framework)}' data-col='{c.index}' "
        f"title='{e(c.label)}'><span>{e(c.implementation)}</span></th>" for c in cols)
    rows = []
    for order, b in enumerate(behaviours_for(op)):
        cells = "".join(_cell(data, c, b.name, details) for c in cols)
        rows.append(f"<tr data-behaviour='{e(b.name)}' data-order='{order}'>"
                    f"<th class='beh' title='{e(b.meaning)}'>{e(b.name)}</th>{cells}</tr>")
    return (f"<section class='op' data-op='{e(op)}'><h2>{e(OP_TITLES.get(op, op))}</h2>"
            "<div class='scroll'><table class='matrix'><thead>"
            f"<tr class='groups'><th></th>{groups}</tr><tr><th>behaviour</th>{heads}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def controls(data: ReportData) -> str:
    frameworks = list(dict.fromkeys(c.framework for c in data.columns))
    ops = "".join(f"<option value='{e(op)}'>{e(OP_TITLES[op])}</option>" for op in OPS
                  if any(c.op == op for c in data.columns))
    fws = "".join(f"<label><input type='checkbox' class='fw' value='{e(fw)}' checked> "
                  f"{e(fw)}</label>" for fw in frameworks)
    statuses = "".join(f"<option value='{s}'>documentation: {s}</option>" for s in STATUSES)
    return (
        "<div class='controls'>"
        "<label>op <select id='f-op'><option value=''>all</option>" + ops + "</select></label>"
        f"<span class='fws'>{fws}</span>"
        "<label>status <select id='f-status'><option value=''>all</option>" + statuses +
        "<option value='differs'>differs from majority</option></select></label>"
        "<label>sort rows <select id='s-rows'><option value='order'>spec order</option>"
        "<option value='name'>name</option><option value='bad'>most disagreement"
        "</option></select></label>"
        "<label>sort columns <select id='s-cols'><option value='order'>framework</option>"
        "<option value='name'>implementation</option><option value='bad'>most disagreement"
        "</option></select></label>"
        "<input id='q' type='search' placeholder='search behaviour, value, implementation'>"
        "</div>"
        "<p class='legend'><span class='cell a-yes'>agrees with docs</span> "
        "<span class='cell a-no'>contradicts docs</span> "
        "<span class='cell a-undocumented'>undocumented</span> "
        "<span class='cell a-untested'>untested</span> "
        "<span class='cell m-differs'>value<sup class='mk'>≠</sup></span> differs from the "
        "majority of frameworks. Click a cell for its evidence.</p>")
