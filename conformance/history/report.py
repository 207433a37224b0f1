"""A history's reports: CSVs, the HTML timeline, and the terminal list of change points.

- ``behaviours.csv``  the tidy table: one row per release, implementation and behaviour;
- ``changes.csv``     one row per change point;
- ``releases.csv``    every release asked for, with its pairing and outcome (a release
  that could not be installed or imported is listed here with the reason, never dropped);
- ``index.html``      a timeline per implementation: behaviours down, releases across,
  a mark where the value changes, the deciding cases one click away (``<details>``);
- ``section.html``    the change points, for the main report's "Behaviour history".
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from conformance.history.changes import (
    CHANGE_COLUMNS,
    TIDY_COLUMNS,
    ChangePoint,
    ordered,
    series,
    tidy,
)
from conformance.history.store import OK, Entry
from conformance.report.files import write_text_atomic

RELEASE_COLUMNS = ("package", "version", "pins", "companions", "bounds", "frameworks",
                   "status", "reason", "install_seconds", "run_seconds", "key")
_CSS = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:2px 6px;vertical-align:top}th{background:#f4f4f4;font-weight:600}
td.chg{background:#fff3cd;border-left:3px solid #e0a800}td.down{background:#eee;color:#777}
.scroll{overflow-x:auto}tbody th{position:sticky;left:0;text-align:left}
td{white-space:nowrap;font-size:12px}.mark{color:#c60;font-weight:700}
summary{cursor:pointer}details div{font-size:12px;white-space:normal;color:#555;
max-width:22em}code{font-size:12px}.muted{color:#777}"""


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n",
                       extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def release_rows(entries: Iterable[Entry]) -> list[dict[str, object]]:
    return [{"package": e.package, "version": e.version, "pins": " ".join(e.pins),
             "companions": e.companions_text(), "bounds": " ".join(e.bounds),
             "frameworks": " ".join(e.frameworks), "status": e.status, "reason": e.reason,
             "install_seconds": e.install_seconds, "run_seconds": e.run_seconds, "key": e.key}
            for e in ordered(entries)]


def terminal_lines(entries: Sequence[Entry], points: Sequence[ChangePoint]) -> list[str]:
    """What the session prints last: releases that did not run, then every change point."""
    lines = []
    ran = sum(e.status == OK for e in entries)
    lines.append(f"{ran} of {len(entries)} releases ran; {len(points)} change points")
    for e in ordered(entries):
        if e.status != OK:
            lines.append(f"  {e.package} {e.version}: {e.status}: {e.reason}")
    for p in points:
        lines.append(f"  {p.package} {p.before_version} -> {p.after_version}  {p.framework}  "
                     f"{p.implementation}  {p.behaviour}: {p.before} -> {p.after}"
                     + ("" if p.kind == "changed" else f"  ({p.kind})"))
    return lines


def _cell(value: str, evidence: str, changed: bool) -> str:
    e = html.escape
    mark = "<span class='mark' title='value changed here'>◆ </span>" if changed else ""
    body = (f"<details><summary>{mark}{e(value)}</summary><div>evidence: "
            f"{e(evidence)}</div></details>" if evidence else f"{mark}{e(value)}")
    return f"<td class='{'chg' if changed else ''}'>{body}</td>"


def anchor(package: str, framework: str, implementation: str) -> str:
    """The id of an implementation's timeline, for links from the change points."""
    return "tl-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{package}-{framework}-{implementation}")


def timeline(entries: Sequence[Entry]) -> str:
    """One table per implementation: behaviours down, every release across."""
    e = html.escape
    releases = ordered(entries)
    _, rows = series(entries)
    impls = sorted({(fw, impl) for fw, impl, _ in rows})
    head = "".join(
        f"<th title='{e(r.companions_text() or r.reason)}'>{e(r.version)}</th>" if r.status == OK
        else f"<th class='down' title='{e(r.reason)}'>{e(r.version)}<br>{e(r.status)}</th>"
        for r in releases)
    parts = []
    for fw, impl in impls:
        body = []
        for (f, i, beh), by_version in sorted(rows.items()):
            if (f, i) != (fw, impl):
                continue
            cells, prev = [], None
            for r in releases:
                row = by_version.get(r.version)
                if r.status != OK:
                    cells.append("<td class='down'></td>")
                    continue
                value = row["value"] if row else "(absent)"
                cells.append(_cell(value, row["evidence"] if row else "",
                                   prev is not None and prev != value))
                prev = value
            body.append(f"<tr><th>{e(beh)}</th>{''.join(cells)}</tr>")
        marks = sum(row.count("class='chg'") for row in body)
        note = f"{marks} change{'s' if marks != 1 else ''}" if marks else "no change"
        package = releases[0].package if releases else ""
        parts.append(f"<h3 id='{anchor(package, fw, impl)}'>{e(fw)}: <code>{e(impl)}</code> "
                     f"<span class='muted'>({note})</span></h3><div class='scroll'><table>"
                     f"<thead><tr><th>behaviour</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    return "".join(parts) or "<p class='muted'>No release ran.</p>"


def changes_table(points: Sequence[ChangePoint], page: str = "") -> str:
    """The change points; each implementation links to its timeline on ``page``."""
    e = html.escape
    if not points:
        return "<p>No behaviour changed between the releases that ran.</p>"
    head = "".join(f"<th>{c}</th>" for c in CHANGE_COLUMNS)

    def cell(p: ChangePoint, column: str, value: str) -> str:
        if column != "implementation":
            return f"<td>{e(value)}</td>"
        href = f"{page}#{anchor(p.package, p.framework, p.implementation)}"
        return f"<td><a href='{e(href)}'>{e(value)}</a></td>"

    body = "".join("<tr>" + "".join(cell(p, c, v) for c, v in p.row().items()) + "</tr>"
                   for p in points)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def group(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    """Histories by the package whose releases make the timeline, each oldest first."""
    out: dict[str, list[Entry]] = {}
    for entry in entries:
        out.setdefault(entry.package, []).append(entry)
    return {package: ordered(out[package]) for package in sorted(out)}


def render(groups: dict[str, list[Entry]], points: Sequence[ChangePoint]) -> str:
    e = html.escape
    rel = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row.values()) + "</tr>"
                  for entries in groups.values() for row in release_rows(entries))
    rel_head = "".join(f"<th>{c}</th>" for c in RELEASE_COLUMNS)
    timelines = "".join(f"<h2 id='history-{e(p)}'>{e(p)}: timelines</h2>{timeline(entries)}"
                        for p, entries in groups.items())
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Behaviour history</title><style>{_CSS}</style></head><body>"
            f"<h1>Behaviour history</h1><h2>Change points</h2>{changes_table(points)}"
            f"<p class='muted'>◆ marks a value that differs from the release before; click a "
            f"value for the cases that decided it. Grey columns: releases that did not run "
            f"(hover for the reason).</p>{timelines}"
            f"<h2>Releases</h2><table><thead><tr>{rel_head}</tr></thead><tbody>{rel}"
            f"</tbody></table></body></html>")


def write_reports(out: Path, groups: dict[str, list[Entry]],
                  points: Sequence[ChangePoint]) -> list[Path]:
    """Write every file of ``reports/history/``; ``groups`` are :func:`group`'s."""
    every = [entry for entries in groups.values() for entry in entries]
    releases = [row for entries in groups.values() for row in release_rows(entries)]
    files = {
        "behaviours.csv": to_csv(TIDY_COLUMNS, (row for entries in groups.values()
                                                for row in tidy(entries))),
        "changes.csv": to_csv(CHANGE_COLUMNS, (p.row() for p in points)),
        "releases.csv": to_csv(RELEASE_COLUMNS, releases),
        "index.html": render(groups, points),
        "section.html": (f"<p>{len(points)} change points over {len(every)} releases of "
                         f"{html.escape(', '.join(groups))} "
                         f"(<a href='history/index.html'>timelines</a>).</p>"
                         f"{changes_table(points, 'history/index.html')}"),
    }
    for name, text in files.items():
        write_text_atomic(out / name, text)
    return [out / name for name in files]
