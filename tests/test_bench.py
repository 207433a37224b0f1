"""The bench's helpers: parsing, formatting, measuring, case replication, the floor loop.

No timing is asserted: figures depend on the machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from conformance.adapters.base import Adapter, Implementation, Outputs, Unsupported
from conformance.bench.floor import bare_loop, read_inputs
from conformance.bench.main import floor, framework_row, last_json, parse_envs, suite
from conformance.bench.measure import Measured, count_results, measure
from conformance.bench.table import (
    Row,
    format_row,
    growth_line,
    matrix_verdict,
    ratio,
    report_line,
)
from conformance.cases import generate, materialize
from conformance.cases.model import Case


def test_parse_envs_accepts_known_names_and_unavailable_markers() -> None:
    assert parse_envs(["numpy=/usr/bin/python3", "mxnet=!install failed"]) == {
        "numpy": "/usr/bin/python3", "mxnet": "!install failed"}


@pytest.mark.parametrize("spec", ["numpy", "nope=/bin/python", "torch="])
def test_parse_envs_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="NAME=PYTHON"):
        parse_envs([spec])


def test_rows_show_ratio_and_na_for_missing_floor() -> None:
    full = format_row(Row("torch", 1.5, 56, 190, 8.0, 230.0, 4.0, 220.0))
    assert "2.00x" in full  # suite 8 s over floor 4 s
    assert "7.0" in full  # 56 cases in 8 s
    bare = format_row(Row("keras", cases=56, suite_s=10.0))
    assert bare.count("n.a.") >= 3
    assert "ERROR adapter" in format_row(Row("mxnet", error="adapter does not load"))
    assert ratio(1.0, 0.0) is None


def test_rows_mark_the_floor_target_and_carry_their_note() -> None:
    assert format_row(Row("numpy", suite_s=1.2, floor_s=1.0)).endswith("1.20x   n.a.  OK")
    assert format_row(Row("numpy", suite_s=1.3, floor_s=1.0, suite_cpu=1.0,
                          floor_cpu=2.0)).endswith("1.30x  0.50x  OVER")
    assert format_row(Row("torch", suite_s=1.0, note="floor failed")).endswith(
        "n.a.   n.a.  (floor failed)")


def test_matrix_verdict_sums_floors_and_ignores_errors() -> None:
    rows = [Row("numpy", floor_s=1.0), Row("torch", floor_s=3.0),
            Row("keras", floor_s=50.0, error="x")]
    assert "2.00x" in matrix_verdict(8.0, rows) and "OVER" in matrix_verdict(8.0, rows)
    assert "OK" in matrix_verdict(7.0, rows)


def test_growth_line_reports_per_case_cost_relative_to_1x() -> None:
    assert "1.00x of 1x" in growth_line(4, 40, 8.0, (10, 2.0))
    assert "of 1x" not in growth_line(1, 10, 2.0, None)
    assert "(cpu    3.0s)" in growth_line(1, 10, 2.0, None, cpu=3.0)


def test_report_line_marks_the_target_and_shows_cpu() -> None:
    assert report_line("default", 2.0, 3.0, cpu=1.5).endswith("(cpu 1.50s) OK (target < 3s)")
    assert report_line("default", 3.5, 3.0).endswith("3.50s OVER (target < 3s)")


def test_scale_adds_replicas_with_their_own_ids_and_seeds() -> None:
    one = generate(["bn_dtype"])
    three = generate(["bn_dtype"], scale=3)
    assert three[:len(one)] == one  # the default cases are unchanged
    assert len(three) == 3 * len(one)
    assert len({c.id for c in three}) == len(three)
    assert len({c.seed for c in three}) == len(three)
    assert {c.get("replica") for c in three[len(one):]} == {1, 2}
    assert generate(["bn_dtype"], scale=3) == three  # content-derived, stable
    with pytest.raises(ValueError, match="scale"):
        generate(["bn_dtype"], scale=0)


def test_measure_reports_exit_code_output_and_memory() -> None:
    m = measure([sys.executable, "-c", "print('hi'); raise SystemExit(3)"])
    assert m.returncode == 3 and m.stdout.strip() == "hi" and not m.ok
    assert m.maxrss_mb > 0 and m.wall_s > 0


def test_count_results_counts_result_records_only(tmp_path: Path) -> None:
    d = tmp_path / "numpy-2.0-py3.11-linux"
    d.mkdir()
    lines = [{"kind": "header"}, {"kind": "start"}, {"kind": "result"}, {"kind": "result"}]
    (d / "results.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    assert count_results(tmp_path, "numpy") == 2
    assert count_results(tmp_path, "torch") == 0


class _Impl(Implementation):
    """Does what its name says: runs, declines in ``supports``, raises Unsupported or fails."""

    def supports(self, case: Case) -> str | None:
        return "declines" if self.name == "declines" else None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        self.meta.setdefault("seen", []).append(case.id)
        if self.name == "unsupported":
            raise Unsupported("no")
        if self.name == "fails":
            raise RuntimeError("framework error")
        return {"y_train": inputs["x"]}


class _Adapter(Adapter):
    framework = "fake"

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def load(self) -> None:
        pass

    def version(self) -> str:
        return "0"

    def implementations(self) -> Sequence[Implementation]:
        return []

    def seed(self, seed: int) -> None:
        self.seeds.append(seed)


def test_bare_loop_calls_each_matching_implementation_once_per_case() -> None:
    cases = generate(["dropout"])[:3]
    impls = [_Impl("runs", "dropout"), _Impl("declines", "dropout"),
             _Impl("unsupported", "dropout"), _Impl("fails", "dropout"),
             _Impl("other_op", "batchnorm")]
    adapter = _Adapter()
    n = bare_loop(adapter, impls, cases, [{"x": np.zeros(2)}] * len(cases))
    assert (n.pairs, n.calls, n.errors, n.unsupported) == (12, 6, 3, 6)
    assert impls[0].meta["seen"] == [c.id for c in cases]
    assert "seen" not in impls[1].meta and "seen" not in impls[4].meta
    assert adapter.seeds == [c.seed for c in cases for _ in range(3)]  # before each run


def test_floor_makes_as_many_pairs_as_the_worker_has_results(tmp_path: Path) -> None:
    cases_dir = tmp_path / "cases"
    cases = materialize(generate(["bn_dtype", "dropout"]), cases_dir)
    inputs = read_inputs(cases_dir, cases)
    assert len(inputs) == len(cases)
    with np.load(cases_dir / "inputs" / f"{cases[-1].id}.npz") as last:
        assert all(np.array_equal(inputs[-1][k], last[k]) for k in last.files)
    fl = floor("numpy", sys.executable, cases_dir, tmp_path)
    assert fl is not None, (tmp_path / "floor-numpy.log").read_text()
    info = fl[1]
    assert info["framework"] == "numpy" and info["cases"] == len(cases)
    assert info["calls"] >= len(cases) and info["import_s"] > 0
    worker = suite("numpy", sys.executable, cases_dir, tmp_path / "runs", tmp_path)
    row = framework_row("numpy", len(cases), tmp_path / "runs", worker, fl)
    assert not row.error and not row.note, row
    assert row.results == info["pairs"] == count_results(tmp_path / "runs", "numpy")
    assert floor("numpy", sys.executable, tmp_path / "nowhere", tmp_path) is None


def test_framework_row_reports_an_adapter_that_does_not_load(tmp_path: Path) -> None:
    d = tmp_path / "mxnet-unavailable-py3.11-linux"
    d.mkdir()
    header = {"kind": "header", "error": {"type": "ImportError", "message": "no mxnet"}}
    (d / "results.jsonl").write_text(json.dumps(header) + "\n")
    failed = Measured(1.0, 1.0, 10.0, 3, "")
    row = framework_row("mxnet", 5, tmp_path, failed, None)
    assert row.error == "adapter does not load: ImportError: no mxnet"
    assert "worker exit 3" in framework_row("keras", 5, tmp_path, failed, None).error


def test_framework_row_notes_a_floor_that_ran_other_pairs(tmp_path: Path) -> None:
    d = tmp_path / "numpy-2.0-py3.11-linux"
    d.mkdir()
    lines = [{"kind": "header"}, {"kind": "result"}, {"kind": "result"}]
    (d / "results.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    ok = Measured(2.0, 2.0, 100.0, 0, "")
    fl = (Measured(1.0, 1.0, 90.0, 0, ""), {"import_s": 0.5, "pairs": 3})
    row = framework_row("numpy", 1, tmp_path, ok, fl)
    assert row.note == "floor made 3 pairs, the suite 2" and row.floor_s == 1.0
    assert framework_row("numpy", 1, tmp_path, ok, None).note.startswith("floor failed")


def test_last_json_skips_lines_that_are_not_a_json_object() -> None:
    assert last_json('{"a": 1}\n{"b": 2}\n[3]\nnoise\n') == {"b": 2}
    assert last_json("nothing here\n") is None
