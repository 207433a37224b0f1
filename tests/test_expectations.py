"""The expectations gate: strict in both directions, and update makes it pass again."""

from __future__ import annotations

import csv
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from conformance.cli import main
from conformance.expectations import (
    Measured,
    Measurement,
    Outcome,
    gate,
    load_dir,
    load_file,
    measure,
    same_value,
    update,
    version_matches,
)
from conformance.spec import DISCREPANCY_COLUMNS

ROWS = [
    ("torch", "2.13.0", "torch.nn.BatchNorm2d", "batchnorm", "momentum_default", "0.1", "0.1",
     "yes"),
    ("torch", "2.13.0", "torch.nn.BatchNorm2d", "batchnorm", "batch_size_one_training", "",
     "error", "undocumented"),
    ("torch", "2.13.0", "torch.nn.Dropout", "dropout", "rate_one", "", "zeros", "undocumented"),
    ("numpy", "2.4.6", "conformance.oracle.dropout", "dropout", "rate_semantics",
     "drop_probability", "drop_probability", "yes"),
]


def write_table(path: Path, rows: list[tuple[str, ...]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(DISCREPANCY_COLUMNS)
        w.writerows([(*r, "case-1") for r in rows])
    return path


def rows_of(rows: list[tuple[str, ...]]) -> list[Measured]:
    return [Measured(r[0], r[1], r[2], r[4], r[6], r[7], r[5]) for r in rows]


def written(tmp_path: Path, rows: list[tuple[str, ...]]) -> Path:
    root = tmp_path / "expectations"
    for path, (_, new) in update(Measurement(rows_of(rows)), load_dir(root), root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
    return root


@pytest.mark.parametrize(("version", "spec", "ok"), [
    ("2.13.0", "==2.13.0", True), ("2.13.1", "==2.13.0", False),
    ("2.13.1", ">=2.13,<2.14", True), ("2.14.0", ">=2.13,<2.14", False),
    ("2.13.0+cpu", "==2.13.*", True), ("1.9.1", "!=1.9.0", True), ("3.0", "", True),
])
def test_version_ranges(version: str, spec: str, ok: bool) -> None:
    assert version_matches(version, spec) is ok


def test_unreadable_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        version_matches("1.0", "~=1.0")


def test_numeric_values_match_within_one_percent() -> None:
    assert same_value("momentum_default", "0.1", "0.1004")
    assert not same_value("momentum_default", "0.1", "0.9")
    assert not same_value("rate_one", "zeros", "nan")


def test_update_then_gate_passes_and_marks_new_entries_unreviewed(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    torch = load_file(root / "torch.toml")
    assert torch.versions == "==2.13.0"
    entry = torch.entries[("torch.nn.BatchNorm2d", "batch_size_one_training")]
    assert entry.actual == "error" and entry.reason.startswith("UNREVIEWED")
    assert torch.entries[("torch.nn.BatchNorm2d", "momentum_default")].reason == "as documented"
    checks = gate(Measurement(rows_of(ROWS)), load_dir(root))
    assert all(c.outcome is Outcome.OK for c in checks) and len(checks) == len(ROWS)


def test_wrong_expectation_fails_gate_and_update_repairs_it(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    path = root / "torch.toml"
    path.write_text(path.read_text().replace('actual = "zeros"', 'actual = "nan"'))
    checks = gate(Measurement(rows_of(ROWS)), load_dir(root))
    failed = [c for c in checks if c.failed]
    assert [(c.outcome, c.behaviour, c.expected, c.actual) for c in failed] == [
        (Outcome.CHANGED, "rate_one", "nan", "zeros")]
    root = written(tmp_path, ROWS)
    assert not [c for c in gate(Measurement(rows_of(ROWS)), load_dir(root)) if c.failed]


def test_new_and_vanished_rows_both_fail(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    extra = ("torch", "2.13.0", "torch.nn.Dropout", "dropout", "rate_zero", "", "identity",
             "undocumented")
    checks = gate(Measurement(rows_of([*ROWS[1:], extra])), load_dir(root))
    failed = {(c.outcome, c.behaviour) for c in checks if c.failed}
    assert failed == {(Outcome.NEW, "rate_zero"), (Outcome.GONE, "momentum_default")}


def test_reviewed_reason_survives_update_while_value_holds(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    path = root / "torch.toml"
    text = path.read_text().replace(
        'reason = "UNREVIEWED: new in torch 2.13.0, undocumented"\nsource = ""',
        'reason = "reviewed"\nsource = "https://example.org/x"', 1)
    path.write_text(text)
    root = written(tmp_path, ROWS)
    entry = load_file(path).entries[("torch.nn.BatchNorm2d", "batch_size_one_training")]
    assert (entry.reason, entry.source) == ("reviewed", "https://example.org/x")
    changed = [*ROWS[:1], (*ROWS[1][:6], "beta", "undocumented"), *ROWS[2:]]
    root = written(tmp_path, changed)
    entry = load_file(path).entries[("torch.nn.BatchNorm2d", "batch_size_one_training")]
    assert entry.actual == "beta" and entry.reason.startswith("UNREVIEWED: was 'error'")
    assert entry.source == "https://example.org/x"


def test_new_version_is_uncovered_until_update_moves_the_file(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    bumped = [(r[0], "2.14.0", *r[2:]) if r[0] == "torch" else r for r in ROWS]
    checks = gate(Measurement(rows_of(bumped)), load_dir(root))
    assert {c.outcome for c in checks if c.framework == "torch"} == {Outcome.NEW}
    root = written(tmp_path, bumped)
    assert load_file(root / "torch.toml").versions == "==2.14.0"
    assert not [c for c in gate(Measurement(rows_of(bumped)), load_dir(root)) if c.failed]


def test_unavailable_fails_only_with_expectations(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    numpy_only = rows_of(ROWS[3:])
    checks = gate(Measurement(numpy_only, {"torch": "install failed", "mxnet": "no wheel"}),
                  load_dir(root))
    by_fw = {(c.framework, c.failed) for c in checks if c.outcome is Outcome.UNAVAILABLE}
    assert by_fw == {("torch", True), ("mxnet", False)}


def test_bad_file_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_table(tmp_path / "reports" / "discrepancies.csv", ROWS)
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "torch.toml").write_text('framework = "torch"\nversions = "~1"\n')
    assert main(["gate", "--discrepancies", str(table), "--expectations",
                 str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read clause" in err


def test_cli_gate_update_gate_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_table(tmp_path / "reports" / "discrepancies.csv", ROWS)
    exp = tmp_path / "exp"
    args = ["--discrepancies", str(table), "--expectations", str(exp)]
    assert main(["gate", *args]) == 1
    assert main(["expectations", "update", *args]) == 0
    out = capsys.readouterr().out
    assert f"+++ {exp / 'torch.toml'}" in out and 'actual = "error"' in out
    assert main(["gate", *args]) == 0
    suites = ET.parse(tmp_path / "reports" / "junit.xml").getroot()
    assert suites.get("tests") == str(len(ROWS)) and suites.get("failures") == "0"
    path = exp / "torch.toml"
    path.write_text(path.read_text().replace('actual = "error"', 'actual = "beta"'))
    assert main(["gate", *args]) == 1
    assert "CHANGED" in capsys.readouterr().out
    failures = ET.parse(tmp_path / "reports" / "junit.xml").getroot().iter("failure")
    assert [f.get("type") for f in failures] == ["changed"]


def test_measure_rejects_other_tables(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a discrepancy table"):
        measure(bad)


def test_cli_gate_fails_when_only_the_documentation_changed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_table(tmp_path / "reports" / "discrepancies.csv", ROWS)
    exp = tmp_path / "exp"
    args = ["--discrepancies", str(table), "--expectations", str(exp)]
    assert main(["expectations", "update", *args]) == 0
    stale = [(*r[:7], "unverified") if r[4] == "momentum_default" else r for r in ROWS]
    write_table(table, stale)
    capsys.readouterr()
    assert main(["gate", *args]) == 1
    out = capsys.readouterr().out
    changed = [line.split() for line in out.splitlines() if line.startswith("CHANGED")]
    assert [line[-3:] for line in changed] == [["agrees", "yes", "unverified"]]
    assert "changed fields: agrees 1" in out
    assert main(["expectations", "update", *args]) == 0
    assert '+agrees = "unverified"' in capsys.readouterr().out
    assert main(["gate", *args]) == 0


def test_measure_reads_runs_from_several_directories(tmp_path: Path) -> None:
    # Runs merged from several machines: `gate --runs A B` sees what each machine could not
    # run, as `gate` beside one runs directory does.
    import json

    table = write_table(tmp_path / "reports" / "discrepancies.csv", ROWS)
    for machine, fw in (("a", "torch"), ("b", "mxnet")):
        run = tmp_path / machine / f"{fw}-unavailable"
        run.mkdir(parents=True)
        (run / "results.jsonl").write_text(json.dumps(
            {"kind": "header", "framework": fw, "framework_version": "unavailable",
             "error": {"type": "EnvironmentUnavailable", "message": f"no {fw} here"}}) + "\n")
    got = measure(table, [tmp_path / "a", tmp_path / "b"]).unavailable
    assert got == {"torch": "EnvironmentUnavailable: no torch here",
                   "mxnet": "EnvironmentUnavailable: no mxnet here"}
    assert measure(table, tmp_path / "a").unavailable == {
        "torch": "EnvironmentUnavailable: no torch here"}
