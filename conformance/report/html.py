"""A plain, self-contained HTML view of the discrepancy table.

Every string that came from a framework is escaped. The full interactive page
(matrix, filters, detail views, charts) builds on this.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from conformance.compare.analyze import Analysis
from conformance.report.files import write_text_atomic

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3;position:sticky;top:0}.yes{background:#dff5df}.no{background:#fbdcdc}
.undocumented{background:#eef}.untested{background:#f5f0d8}
"""


def _cell(value: Any, cls: str = "") -> str:
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<td{attr}>{html.escape(str(value))}</td>"


def render(analysis: Analysis) -> str:
    runs = "".join(
        f"<li>{html.escape(r.framework)} {html.escape(r.version)}"
        f"{' — ERROR: ' + html.escape(r.error) if r.error else ''}</li>" for r in analysis.runs)
    head = "".join(f"<th>{c}</th>" for c in ("framework", "version", "implementation",
                                                "behaviour", "documented", "actual", "agrees",
                                                "evidence"))
    body = "".join(
        "<tr>" + "".join(_cell(d[k]) for k in ("framework", "framework_version",
                                               "implementation", "behaviour", "documented",
                                               "actual"))
        + _cell(d["agrees"], d["agrees"]) + _cell(d["evidence"]) + "</tr>"
        for d in analysis.discrepancies)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Conformance report"
            f"</title><style>{_STYLE}</style></head><body><h1>Conformance report</h1>"
            f"<h2>Runs</h2><ul>{runs}</ul><h2>Discrepancies</h2>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>")


def write_html(analysis: Analysis, out: Path) -> Path:
    path = out / "index.html"
    write_text_atomic(path, render(analysis))
    return path
