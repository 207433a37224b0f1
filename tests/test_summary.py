"""The summary `conformance report` prints: counts, the table of what to look at, the HTML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.cases import generate
from conformance.compare.analyze import Analysis
from conformance.compare.checks import UNEXPLAINED
from conformance.compare.load import Run
from conformance.report.summary import Item, format_table, items, summary

CASES = {c.id: c for c in generate() if c.op == "batchnorm"}
IDS = sorted(CASES)


def result(status: str, impl: str, case_id: str, detail: str = "", cause: str = "",
           framework: str = "torch") -> dict[str, Any]:
    return {"framework": framework, "framework_version": "2.0", "implementation": impl,
            "op": "batchnorm", "mode": "training", "case_id": case_id, "check": "y",
            "status": status, "max_abs_err": "1", "max_rel_err": "1", "tolerance": "",
            "detail": detail, "cause": cause}


def discrepancy(behaviour: str, agrees: str) -> dict[str, Any]:
    return {"framework": "keras", "framework_version": "3.0",
            "implementation": "keras.layers.BatchNormalization", "op": "batchnorm",
            "behaviour": behaviour, "documented": "0.99", "actual": "0.01", "agrees": agrees,
            "evidence": ""}


def analysis(results: list[dict[str, Any]], discrepancies: list[dict[str, Any]],
             runs: list[Run]) -> Analysis:
    return Analysis(results, discrepancies, [], runs, CASES)


def test_every_kind_gets_its_line_in_reading_order(tmp_path: Path) -> None:
    down = Run(tmp_path, {"framework": "mxnet", "framework_version": "unavailable",
                          "error": {"type": "EnvironmentUnavailable", "message": "no wheel"}})
    a = analysis(
        [result("PASS", "torch.nn.BatchNorm1d", IDS[0]),
         result("MISMATCH", "torch.nn.BatchNorm1d", IDS[0], cause=UNEXPLAINED),
         result("MISMATCH", "torch.nn.BatchNorm1d", IDS[1], cause=UNEXPLAINED),
         result("MISMATCH", "torch.nn.BatchNorm2d", IDS[1], cause="epsilon_default"),
         result("ERROR", "torch.nn.BatchNorm2d", IDS[2], "ValueError: eps must be positive"),
         result("CRASH", "tf.nn.batch_normalization", IDS[3], "worker died with signal SIGSEGV",
                framework="tensorflow"),
         result("TIMEOUT", "tf.nn.batch_normalization", IDS[4],
                "no result within 3 s; worker killed", framework="tensorflow")],
        [discrepancy("momentum", "no"), discrepancy("epsilon_default", "yes")], [down])
    found = items(a)
    assert [(i.kind, i.framework, i.implementation) for i in found] == [
        ("contradicts documentation", "keras", "keras.layers.BatchNormalization"),
        ("unexplained mismatch", "torch", "torch.nn.BatchNorm1d"),
        ("framework error", "torch", "torch.nn.BatchNorm2d"),
        ("crashed", "tensorflow", "tf.nn.batch_normalization"),
        ("timed out", "tensorflow", "tf.nn.batch_normalization"),
        ("did not run", "mxnet", "-"),
    ]
    assert found[0].detail == "momentum: documented 0.99, measured 0.01"
    assert found[1].detail.split("; smallest ")[0] == "2 mismatches on 2 cases"
    assert found[1].detail.split("; smallest ")[1] in IDS[:2]
    assert found[3].detail == "1 case: worker died with signal SIGSEGV"
    assert found[5].detail == "EnvironmentUnavailable: no wheel"

    lines = summary(a, 1.25, tmp_path / "index.html")
    assert lines[0] == ("7 checks, 2 behaviour rows, 3 mismatches against the oracle, "
                        "in 1.2 s")
    assert lines[1] == ("to look at: 1 contradict documentation, 2 unexplained mismatches, "
                        "1 framework error, 1 crashed, 1 timed out, 1 framework not run")
    assert lines[2].split() == ["what", "framework", "implementation", "detail"]
    assert len(lines) == 3 + len(found) + 1
    assert lines[-1] == f"HTML report: {tmp_path / 'index.html'}"


def test_a_clean_run_says_so_without_a_table() -> None:
    a = analysis([result("PASS", "torch.nn.BatchNorm1d", IDS[0])],
                 [discrepancy("momentum", "yes")], [])
    assert summary(a, 0.5) == [
        "1 check, 1 behaviour row, 0 mismatches against the oracle, in 0.5 s",
        "nothing to look at: 0 contradict documentation, 0 unexplained mismatches, "
        "0 framework errors, 0 crashed, 0 timed out, 0 frameworks not run"]


def test_the_table_keeps_a_few_lines_per_kind_and_counts_the_rest() -> None:
    found = ([Item("framework error", "torch", f"impl{i}", "x " * 80) for i in range(5)]
             + [Item("crashed", "mxnet", "mx", "1 case: signal SIGSEGV")])
    lines = format_table(found, limit=2)
    assert len(lines) == 1 + 2 + 1 + 1
    assert "impl1" in lines[2] and "impl2" not in "".join(lines)
    assert lines[3].startswith("crashed")
    assert lines[4] == "  ... and 3 more: framework error"
    assert lines[1].endswith("…")  # long details are cut to the column, not wrapped
    assert format_table([]) == []
