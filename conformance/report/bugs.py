"""The "Unexplained mismatches" section: suspected bugs with a repro each."""

from __future__ import annotations

from conformance.compare.explain import FrameworkError, SuspectedBug
from conformance.report.data import ReportData
from conformance.report.detail import e
from conformance.report.snippets import snippet


def section(data: ReportData, bugs: list[SuspectedBug]) -> str:
    """One entry per suspected bug: what failed, on which smallest case, and a snippet that
    runs the case with the framework alone (to compare with the oracle's numbers)."""
    if not bugs:
        return ("<p>Every mismatch against the oracle has a named cause: a behaviour whose "
                "measured value differs from the documented one (see the <code>cause</code> "
                "column of results.csv).</p>")
    items = []
    for b in bugs:
        row = b.to_row()
        checks = "".join(
            f"<li><code>{e(c['check'])}</code>: max abs {e(c['max_abs_err'])}, max rel "
            f"{e(c['max_rel_err'])} ({e(c['tolerance'])})</li>" for c in b.checks)
        code = snippet(b.framework, b.implementation, b.smallest, data.inputs(b.smallest.id))
        items.append(
            f"<article class='bug'><h3>{e(b.framework)} {e(b.version)} "
            f"<code>{e(b.implementation)}</code></h3>"
            f"<p>{b.mismatches} unexplained mismatch(es) on {len(b.cases)} case(s): even the "
            f"measured conventions do not reproduce the output. Smallest case "
            f"<code>{e(b.smallest.id)}</code> ({e(row['dtype'])}, shape {e(row['shape'])}, "
            f"{e(b.smallest.note)}):</p><ul>{checks}</ul>"
            f"<pre class='code'>{e(code)}</pre></article>")
    return (f"<p>{len(bugs)} implementation row(s) have mismatches that no behaviour of the "
            "table explains: each is a suspected bug (or a convention the oracle cannot yet "
            "express) until a cause is named.</p>" + "".join(items))


def errors_section(data: ReportData, errors: list[FrameworkError]) -> str:
    """Framework errors no behaviour names, one entry per implementation and message."""
    if not errors:
        return "<p>Every framework error is named by a behaviour (e.g. a batch of one).</p>"
    items = []
    for x in errors:
        code = snippet(x.framework, x.implementation, x.smallest, data.inputs(x.smallest.id))
        items.append(
            f"<article class='bug'><h3>{e(x.framework)} {e(x.version)} "
            f"<code>{e(x.implementation)}</code></h3><p>raises on {len(x.cases)} case(s): "
            f"<code>{e(x.message)}</code>. Smallest case <code>{e(x.smallest.id)}</code> "
            f"({e(x.smallest.dtype)}, shape {e(x.smallest.shape)}, {e(x.smallest.note)}):</p>"
            f"<pre class='code'>{e(code)}</pre></article>")
    return (f"<p>{len(errors)} framework error(s) that no behaviour of the table names: "
            "a limitation to document or a bug to report.</p>" + "".join(items))
