"""Longest-first start order from the previous run's records."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.schedule import longest_first, previous_seconds


def _run(out: Path, framework: str, started: float, finished: float | None) -> None:
    d = out / f"{framework}-1.0-py3.11-linux"
    d.mkdir(parents=True)
    lines = [{"kind": "header", "framework": framework, "started": started},
             {"kind": "result", "case_id": "c"}]
    if finished is not None:
        lines.append({"finished": finished, "kind": "end"})
    (d / "results.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n"
                                             for r in lines))


def test_previous_seconds_reads_header_to_end_and_skips_unfinished_runs(tmp_path: Path) -> None:
    _run(tmp_path, "flax", 100.0, 190.0)
    _run(tmp_path, "numpy", 100.0, 101.5)
    _run(tmp_path, "torch", 100.0, None)  # interrupted: no end record, no estimate
    (tmp_path / "junk-dir").mkdir()
    (tmp_path / "junk-dir" / "results.jsonl").write_text("not json\n")
    assert previous_seconds(tmp_path) == {"flax": 90.0, "numpy": 1.5}
    assert previous_seconds(tmp_path / "missing") == {}


def test_longest_first_puts_unknown_then_longest_first_and_keeps_ties_in_order() -> None:
    frameworks = ["numpy", "torch", "keras", "flax", "onnxruntime", "paddle"]
    seconds = {"numpy": 1.0, "torch": 5.0, "keras": 12.0, "flax": 90.0, "onnxruntime": 85.0}
    order = [frameworks[i] for i in longest_first(frameworks, seconds)]
    assert order == ["paddle", "flax", "onnxruntime", "keras", "torch", "numpy"]
    assert longest_first(["a", "b", "c"], {}) == [0, 1, 2]  # no history: as given
