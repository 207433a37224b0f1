"""The bench's helpers: parsing, formatting, measuring, case replication, a floor script.

No timing is asserted: figures depend on the machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance.bench.main import floor_module, parse_envs
from conformance.bench.measure import count_results, measure
from conformance.bench.table import Row, format_row, growth_line, matrix_verdict, ratio
from conformance.cases import generate, materialize


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


def test_matrix_verdict_sums_floors_and_ignores_errors() -> None:
    rows = [Row("numpy", floor_s=1.0), Row("torch", floor_s=3.0),
            Row("keras", floor_s=50.0, error="x")]
    assert "2.00x" in matrix_verdict(8.0, rows) and "OVER" in matrix_verdict(8.0, rows)
    assert "OK" in matrix_verdict(7.0, rows)


def test_growth_line_reports_per_case_cost_relative_to_1x() -> None:
    assert "1.00x of 1x" in growth_line(4, 40, 8.0, (10, 2.0))
    assert "of 1x" not in growth_line(1, 10, 2.0, None)


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


def test_numpy_floor_runs_every_case(tmp_path: Path) -> None:
    cases = materialize(generate(["bn_dtype", "dropout"]), tmp_path)
    module = floor_module("numpy")
    assert module is not None and floor_module("no_such_framework") is None
    m = measure([sys.executable, "-m", module, "--cases", str(tmp_path)])
    assert m.ok, m.stdout
    info = json.loads(m.stdout.splitlines()[-1])
    assert info["framework"] == "numpy" and info["cases"] == len(cases)
    assert info["calls"] >= len(cases)
