"""The runner records each batch-norm result's variables, read from a layer the adapter
built (the convention cards read them from the results, never from typed tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from conformance.adapters.base import Implementation, Outputs, Portable
from conformance.adapters.numpy_ref import NumpyPort
from conformance.cases import generate
from conformance.cases.model import Case
from conformance.runner import RESULTS, _variables, read_records, run_worker


def test_numpy_run_records_its_variables(tmp_path: Path) -> None:
    from conformance.cases.store import materialize

    materialize(generate(["bn_layout", "dropout"]), tmp_path / "cases")
    assert run_worker("numpy", tmp_path / "cases", tmp_path / "runs") == 0
    (run,) = (tmp_path / "runs").iterdir()
    records = [r for r in read_records(run / RESULTS) if r["kind"] == "result"]
    bn = [r for r in records if r["op"] == "batchnorm" and r["status"] == "ok"]
    assert bn and all("variables" in r for r in bn)
    v = {x["role"]: x for x in bn[0]["variables"]}
    assert set(v) == {"gamma", "beta", "running_mean", "running_var"}
    assert v["running_var"]["shape"] == [3] and v["gamma"]["dtype"] == "float32"
    assert not any("variables" in r for r in records if r["op"] == "dropout")


class _Broken(NumpyPort):
    def build(self, arguments: Any, shape: tuple[int, ...], dtype: str) -> Any:
        raise RuntimeError("cannot build")


class _Row(Implementation):
    def portable(self) -> Portable | None:
        return _Broken()

    def run(self, case: Case, inputs: Any) -> Outputs:
        return {"y": np.zeros(1)}


def test_a_layer_that_cannot_be_built_leaves_no_variables() -> None:
    case = generate(["bn_layout"])[0]
    assert _variables(_Row("x", "batchnorm"), case) == []
