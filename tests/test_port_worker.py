"""The in-environment passes, run in this process on the oracle's NumpyPort."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conformance.cases import generate
from conformance.cases.store import materialize
from conformance.port.core import ORACLE, scenarios
from conformance.port.worker import run_plan


def test_export_then_import_carries_the_variables(tmp_path: Path) -> None:
    case = scenarios(materialize(generate(["bn_fused"]), tmp_path / "cases"))[0]
    item = {"key": "numpy", "framework": "numpy", "implementation": ORACLE, "case": case.id,
            "momentum": case.get("momentum"), "epsilon": case.get("epsilon")}
    (ex,) = run_plan({"mode": "export", "cases": str(tmp_path / "cases"), "items": [item]},
                     tmp_path / "export")
    assert ex["status"] == "ok", ex
    src = np.load(ex["outputs"])
    assert src["cont/y_train"].shape == (case.steps, *case.shape)
    imp = {**item, "key": "pair", "momentum": 0.5, "epsilon": 1e-3, "source": ex["outputs"]}
    (im,) = run_plan({"mode": "import", "cases": str(tmp_path / "cases"), "items": [imp]},
                     tmp_path / "import")
    assert im["status"] == "ok" and im["arguments"]["momentum"] == 0.5, im
    dst = np.load(im["outputs"])
    assert not np.array_equal(dst["y_eval"], src["y_eval"])  # epsilon 1e-3, not 1e-5


def test_unknown_rows_and_unloadable_frameworks_are_outcomes(tmp_path: Path) -> None:
    case = scenarios(materialize(generate(["bn_fused"]), tmp_path / "cases"))[0]
    items = [{"key": "a", "framework": "numpy", "implementation": "numpy.nope",
              "case": case.id, "momentum": 0.1, "epsilon": 1e-5},
             {"key": "b", "framework": "paddle", "implementation": "paddle.nn.BatchNorm2D",
              "case": case.id, "momentum": 0.1, "epsilon": 1e-5},
             {"key": "c", "framework": "numpy", "implementation": ORACLE,
              "case": "no-such-case", "momentum": 0.1, "epsilon": 1e-5}]
    answers = run_plan({"mode": "export", "cases": str(tmp_path / "cases"), "items": items},
                       tmp_path / "out")
    assert [a["status"] for a in answers] == ["error"] * 3, answers
    assert "no portable row" in answers[0]["error"]
    assert "KeyError" in answers[2]["error"]
