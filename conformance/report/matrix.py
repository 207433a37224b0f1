"""The compatibility matrix: one table per op, behaviours down, implementations across.

Columns are grouped by framework and version (caniuse style). Each cell shows
the inferred value; its colour says whether it agrees with the documentation,
a dashed outline that it differs from the majority of frameworks. Filtering,
sorting and search read the ``data-*`` attributes written here.

Provenance is shown, not hidden: recipe rows (code the suite ships, named
``recipe:...``) come last, under their own group headers; a behaviour whose value
is the suite's own code reads ``n/a``; demonstration rows (a staged misuse) carry a
``demo`` tag and their scenario is stated under the table.
"""

from __future__ import annotations

from itertools import groupby

from conformance.compare.provenance import is_recipe_row
from conformance.report.data import UNMEASURED, Column, ReportData
from conformance.report.detail import detail_anchor, detail_html, e
from conformance.spec import AGREEMENT, NOT_APPLICABLE, OPS, behaviours_for

STATUSES = AGREEMENT
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
    status = NOT_APPLICABLE if f.actual == NOT_APPLICABLE else col.agrees(behaviour)
    maj = majority_state(data, behaviour, f.actual)
    cell_id = detail_anchor(col.index, behaviour)
    details.append(detail_html(data, col, behaviour, cell_id))
    doc_text = f"documented {doc['value']}" if doc else "undocumented"
    title = f"{col.implementation}: {behaviour} = {f.actual} ({doc_text}; majority {maj})"
    marker = "<sup class='mk'>≠</sup>" if maj == "differs" else ""
    shown = "n/a" if f.actual == NOT_APPLICABLE else f.actual
    if f.actual == NOT_APPLICABLE:
        title = f"{col.implementation}: {behaviour}: {f.note}"
    return (f"<td class='cell a-{status} m-{maj}' tabindex='0' data-fw='{e(col.framework)}' "
            f"data-status='{status}' data-majority='{maj}' data-detail='{e(cell_id)}' "
            f"title='{e(title)}'>{e(shown)}{marker}</td>")


def ordered(data: ReportData, op: str) -> list[Column]:
    """The op's columns, framework rows first and recipe rows last (stable otherwise)."""
    return sorted((c for c in data.columns if c.op == op),
                  key=lambda c: is_recipe_row(c.implementation))


def _group(col: Column) -> tuple[str, str, bool]:
    return col.framework, col.version, is_recipe_row(col.implementation)


def _head(col: Column, position: int) -> str:
    title, tag, cls = col.label, "", "impl"
    if col.row.demonstration:
        title += f" (demonstration: {col.row.demonstration})"
        tag, cls = "<b class='tag'>demo</b> ", "impl demo"
    elif is_recipe_row(col.implementation):
        title += " (a recipe the suite ships, not an API of the framework)"
        cls = "impl recipe"
    return (f"<th class='{cls}' data-fw='{e(col.framework)}' data-col='{position}' "
            f"title='{e(title)}'><span>{tag}{e(col.implementation)}</span></th>")


def demonstrations(cols: list[Column]) -> str:
    """The scenario of every demonstration row: why its differences are not the docs'."""
    items = "".join(f"<li><code>{e(c.implementation)}</code> <span class='muted'>"
                    f"({e(c.framework)} {e(c.version)})</span>: {e(c.row.demonstration)}</li>"
                    for c in cols if c.row.demonstration)
    return ("<p class='demos'>Demonstrations (a staged misuse; their differences are the "
            f"scenario's, not contradictions of the documentation):</p><ul>{items}</ul>"
            if items else "")


def op_table(data: ReportData, op: str, details: list[str]) -> str:
    cols = ordered(data, op)
    if not cols:
        return ""
    groups = "".join(
        f"<th class='grp{' recipe' if recipe else ''}' data-fw='{e(fw)}' "
        f"colspan='{len(list(g))}'>{e(data.group_label(fw, v))}"
        f"{' · suite recipes' if recipe else ''}</th>"
        for (fw, v, recipe), g in groupby(cols, key=_group))
    heads = "".join(_head(c, i) for i, c in enumerate(cols))
    rows = []
    for order, b in enumerate(behaviours_for(op)):
        cells = "".join(_cell(data, c, b.name, details) for c in cols)
        rows.append(f"<tr data-behaviour='{e(b.name)}' data-order='{order}'>"
                    f"<th class='beh' title='{e(b.meaning)}'>{e(b.name)}</th>{cells}</tr>")
    return (f"<section class='op' data-op='{e(op)}'><h2>{e(OP_TITLES.get(op, op))}</h2>"
            "<div class='scroll'><table class='matrix'><thead>"
            f"<tr class='groups'><th></th>{groups}</tr><tr><th>behaviour</th>{heads}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>{demonstrations(cols)}"
            "</section>")


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
        "<span class='cell a-not_applicable'>n/a</span> the suite's own code "
        "(a recipe or a stand-in), not the framework's "
        "<span class='cell a-demonstration'>demonstration</span> a staged misuse "
        "<span class='cell m-differs'>value<sup class='mk'>≠</sup></span> differs from the "
        "majority of frameworks. Click a cell for its evidence.</p>")
