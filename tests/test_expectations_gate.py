"""The gate compares actual, documented and agrees, and names the field that moved."""

from __future__ import annotations

from pathlib import Path

from conformance.expectations import (
    Measured,
    Measurement,
    Outcome,
    format_table,
    gate,
    load_dir,
    update,
    verdict,
)

ROWS = [
    Measured("torch", "2.13.0", "torch.nn.BatchNorm2d", "momentum_default", "0.1", "yes", "0.1"),
    Measured("torch", "2.13.0", "torch.nn.BatchNorm2d", "normalize_variance", "biased", "yes",
             "biased"),
    Measured("torch", "2.13.0", "torch.nn.Dropout", "rate_one", "zeros", "undocumented"),
]


def written(root: Path, rows: list[Measured]) -> Path:
    for path, (_, new) in update(Measurement(rows), load_dir(root), root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
    return root


def with_(rows: list[Measured], i: int, **changes: str) -> list[Measured]:
    from dataclasses import replace

    return [replace(r, **changes) if j == i else r for j, r in enumerate(rows)]


def test_a_documentation_change_that_flips_agrees_fails(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    stale = with_(ROWS, 1, agrees="unverified")  # the quote left the docstring
    (check,) = [c for c in gate(Measurement(stale), load_dir(root)) if c.failed]
    assert (check.outcome, check.behaviour) == (Outcome.CHANGED, "normalize_variance")
    assert [(d.field, d.expected, d.measured) for d in check.diffs] == [
        ("agrees", "yes", "unverified")]
    table = format_table([check])
    assert "agrees" in table and "unverified" in table.splitlines()[1]


def test_a_new_claim_changes_documented_and_agrees(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    claimed = with_(ROWS, 2, documented="zeros", agrees="yes")
    (check,) = [c for c in gate(Measurement(claimed), load_dir(root)) if c.failed]
    assert [d.field for d in check.diffs] == ["documented", "agrees"]
    lines = format_table([check]).splitlines()
    assert len(lines) == 3  # header plus one line per changed field
    assert lines[1].split()[-3:] == ["documented", "-", "zeros"]
    assert lines[2].split()[-3:] == ["agrees", "undocumented", "yes"]


def test_value_and_documentation_changes_are_named_together(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    moved = with_(ROWS, 1, actual="unbiased", agrees="no")
    (check,) = [c for c in gate(Measurement(moved), load_dir(root)) if c.failed]
    assert [d.field for d in check.diffs] == ["actual", "agrees"]
    assert (check.expected, check.actual) == ("biased", "unbiased")


def test_numeric_documented_values_match_within_one_percent(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    close = with_(ROWS, 0, documented="0.1001", actual="0.0999")
    assert not [c for c in gate(Measurement(close), load_dir(root)) if c.failed]
    far = with_(ROWS, 0, documented="0.01", agrees="no")
    (check,) = [c for c in gate(Measurement(far), load_dir(root)) if c.failed]
    assert [d.field for d in check.diffs] == ["documented", "agrees"]


def test_unchanged_rows_pass_and_carry_no_diffs(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    checks = gate(Measurement(ROWS), load_dir(root))
    assert {c.outcome for c in checks} == {Outcome.OK}
    assert not any(c.diffs for c in checks)
    assert format_table(checks) == ""


def test_verdict_is_one_line_naming_what_failed(tmp_path: Path) -> None:
    root = written(tmp_path, ROWS)
    passed = gate(Measurement(ROWS), load_dir(root))
    assert verdict(passed) == "gate: PASS, 3 behaviours as expected"
    moved = with_(ROWS, 1, actual="unbiased", agrees="no")[:2]  # one changed, one gone
    moved.append(Measured("torch", "2.13.0", "torch.nn.Dropout", "drop_fraction", "rate", "yes"))
    assert verdict(gate(Measurement(moved), load_dir(root))) == (
        "gate: FAIL, 1 behaviour changed, 1 new, 1 gone; 1 as expected (see the table above)")
    down = gate(Measurement([], {"torch": "install failed"}), load_dir(root))
    assert verdict(down) == ("gate: FAIL, 3 not measured (framework unavailable); 0 as expected "
                             "(see the table above)")
