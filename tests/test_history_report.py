"""A history's files: CSV schemas, the timeline page and the terminal list."""

from __future__ import annotations

import csv
from pathlib import Path

from conformance.history.changes import CHANGE_COLUMNS, TIDY_COLUMNS, change_points
from conformance.history.report import (
    RELEASE_COLUMNS,
    anchor,
    group,
    terminal_lines,
    timeline,
    write_reports,
)
from conformance.history.store import IMPORT_FAILED, OK, Entry

IMPL = "keras.layers.BatchNormalization[<fit>]"


def release(version: str, value: str, status: str = OK, reason: str = "") -> Entry:
    rows = [{"framework": "keras", "framework_version": version, "implementation": IMPL,
             "op": "batchnorm", "behaviour": "gamma_applied", "value": value,
             "evidence": "bn_gamma-0123456789"}] if status == OK else []
    return Entry("keras", version, (f"keras=={version}",), ("keras",), "k", status=status,
                 reason=reason, companions={"tensorflow-cpu": "2.16.2"}, behaviours=rows)


ENTRIES = [release("3.0.0", "yes"), release("3.1.0", "", IMPORT_FAILED, "keras: No module <x>"),
           release("3.2.0", "no")]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_csv_has_its_columns_and_failed_releases_are_listed(tmp_path: Path) -> None:
    groups = group(ENTRIES)
    paths = write_reports(tmp_path, groups, change_points(ENTRIES))
    assert {p.name for p in paths} == {"behaviours.csv", "changes.csv", "releases.csv",
                                       "index.html", "section.html"}
    for name, columns in (("behaviours.csv", TIDY_COLUMNS), ("changes.csv", CHANGE_COLUMNS),
                          ("releases.csv", RELEASE_COLUMNS)):
        header = (tmp_path / name).read_text().splitlines()[0]
        assert tuple(header.split(",")) == columns, f"{name}: header {header}"
    assert [r["version"] for r in _read(tmp_path / "behaviours.csv")] == ["3.0.0", "3.2.0"]
    (change,) = _read(tmp_path / "changes.csv")
    assert (change["before_version"], change["after_version"], change["before"],
            change["after"]) == ("3.0.0", "3.2.0", "yes", "no")
    failed = [r for r in _read(tmp_path / "releases.csv") if r["status"] != OK]
    assert [(r["version"], r["status"], r["reason"]) for r in failed] == [
        ("3.1.0", "import_failed", "keras: No module <x>")]


def test_the_timeline_marks_the_change_and_keeps_evidence_one_click_away() -> None:
    page = timeline(ENTRIES)
    assert page.count("◆") == 1, "one mark: the release where the value changed"
    assert "(1 change)" in page
    assert "<td class='chg'><details><summary><span class='mark'" in page
    assert "evidence: bn_gamma-0123456789" in page
    assert "&lt;fit&gt;" in page and "<fit>" not in page, "framework strings are escaped"
    assert "title='keras: No module &lt;x&gt;'>3.1.0<br>import_failed" in page
    assert f"<h3 id='{anchor('keras', 'keras', IMPL)}'>" in page


def test_change_points_link_to_their_timeline(tmp_path: Path) -> None:
    write_reports(tmp_path, group(ENTRIES), change_points(ENTRIES))
    link = f"#{anchor('keras', 'keras', IMPL)}'>{IMPL.replace('<', '&lt;').replace('>', '&gt;')}"
    assert f"<a href='{link}</a>" in (tmp_path / "index.html").read_text()
    assert f"<a href='history/index.html{link}</a>" in (tmp_path / "section.html").read_text()
    assert anchor("keras", "keras", IMPL) == "tl-keras-keras-keras.layers.BatchNormalization__fit__"


def test_terminal_lists_failures_and_change_points() -> None:
    lines = terminal_lines(ENTRIES, change_points(ENTRIES))
    assert lines[0] == "2 of 3 releases ran; 1 change points"
    assert "  keras 3.1.0: import_failed: keras: No module <x>" in lines
    assert lines[-1] == f"  keras 3.0.0 -> 3.2.0  keras  {IMPL}  gamma_applied: yes -> no"
