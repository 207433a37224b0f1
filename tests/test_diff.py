"""The upgrade diff: behaviour changes, status changes and numeric drift, regressions first."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.arrays import save_arrays
from conformance.cases import generate
from conformance.cases.model import Case
from conformance.cli import main
from conformance.compare.load import load_run
from conformance.diff import (
    DIFF_COLUMNS,
    Diff,
    DiffRow,
    Side,
    diff,
    render_diff_section,
    to_csv,
    verdict,
)
from conformance.spec import DISCREPANCY_COLUMNS


def row(impl: str, behaviour: str, actual: str, agrees: str = "undocumented",
        version: str = "2.13.0") -> dict[str, Any]:
    return {"framework": "torch", "framework_version": version, "implementation": impl,
            "op": "dropout", "behaviour": behaviour, "documented": "", "actual": actual,
            "agrees": agrees, "evidence": ""}


A_ROWS = [row("torch.nn.Dropout", "rate_one", "zeros"),
          row("torch.nn.Dropout", "training_scale", "inverse_keep", "yes"),
          row("torch.nn.Dropout", "rate_zero", "identity"),
          row("torch.nn.BatchNorm2d", "momentum_default", "0.1", "yes")]
B_ROWS = [row("torch.nn.Dropout", "rate_one", "zeros", version="2.14.0"),
          row("torch.nn.Dropout", "training_scale", "none", "no", "2.14.0"),
          row("torch.nn.BatchNorm2d", "momentum_default", "0.1003", "yes", "2.14.0"),
          row("torch.nn.Dropout", "drop_fraction", "consistent", version="2.14.0")]


def test_behaviour_rows_regressions_first() -> None:
    d = diff(Side("a", [], A_ROWS), Side("b", [], B_ROWS), {})
    got = [(r.kind, r.subject, r.before, r.after, r.regression) for r in d.rows]
    assert got == [("behaviour", "training_scale", "inverse_keep", "none", True),
                   ("removed", "rate_zero", "identity", "", True),
                   ("added", "drop_fraction", "", "consistent", False)]
    assert d.changed and d.compared_behaviours == 3  # 0.1 -> 0.1003 is within 1%


def test_identical_sides_do_not_change() -> None:
    d = diff(Side("a", [], A_ROWS), Side("b", [], A_ROWS), {})
    assert not d.rows and not d.changed


def test_verdict_says_whether_behaviour_changed() -> None:
    where = Path("reports/upgrade/diff.csv")
    changed = diff(Side("a", [], A_ROWS), Side("b", [], B_ROWS), {})
    assert verdict(changed, where) == ("behaviour changed: 3 behaviour rows, 2 regressions; "
                                       "see reports/upgrade/diff.csv")
    assert verdict(diff(Side("a", [], A_ROWS), Side("b", [], A_ROWS), {}), where) == (
        "no behaviour change")
    mask_only = Diff(changed.a, changed.b, [DiffRow("mask", "torch", "impl", "c:y", "", "")])
    assert verdict(mask_only, where) == ("no behaviour change (1 informational difference); "
                                         "see reports/upgrade/diff.csv")


def _run_dir(root: Path, version: str, results: list[tuple[Case, str, dict[str, np.ndarray]]]
             ) -> Path:
    path = root / f"torch-{version}"
    records: list[dict[str, Any]] = [{"kind": "header", "framework": "torch",
                                      "framework_version": version}]
    for i, (case, status, outputs) in enumerate(results):
        rec: dict[str, Any] = {"kind": "result", "case_id": case.id, "op": case.op,
                               "implementation": f"impl.{case.op}", "status": status}
        if status == "ok":
            save_arrays(path / "outputs" / f"{i}.npz", outputs)
            rec["outputs"] = f"outputs/{i}.npz"
        else:
            rec["error"] = {"type": "RuntimeError", "message": "boom"}
        records.append(rec)
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_status_change_drift_and_mask(tmp_path: Path) -> None:
    cases = generate(["bn_batch", "dropout"])
    bn1, bn2 = [c for c in cases if c.op == "batchnorm"][:2]
    do = next(c for c in cases if c.op == "dropout" and 0 < float(c.get("rate")) < 1)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 3))
    x = rng.normal(size=(8, 8)) + 5.0
    mask_a = rng.random((8, 8)) > 0.5
    mask_b = mask_a.copy()
    mask_b[0, :] = ~mask_b[0, :]
    a = _run_dir(tmp_path / "a", "2.13.0", [(bn1, "ok", {"y_train": y}),
                                            (bn2, "ok", {"y_train": y}),
                                            (do, "ok", {"y_train": x * mask_a})])
    b = _run_dir(tmp_path / "b", "2.14.0", [(bn1, "ok", {"y_train": y * (1 + 1e-6)}),
                                            (bn2, "error", {}),
                                            (do, "ok", {"y_train": x * mask_b})])
    by_id = {c.id: c for c in cases}
    d = diff(Side("a", [load_run(a)], []), Side("b", [load_run(b)], []), by_id)
    got = [(r.kind, r.subject.split(":")[0], r.regression) for r in d.rows]
    assert got == [("status", bn2.id, True), ("drift", bn1.id, True), ("mask", do.id, False)]
    assert "x the tolerance" in d.rows[1].detail
    assert d.changed and d.compared_outputs == 2


def test_csv_and_html_escape(tmp_path: Path) -> None:
    evil = [row("torch.nn.<script>", "rate_one", "zeros")]
    d = diff(Side("a", [], evil), Side("b", [], [{**evil[0], "actual": "nan"}]), {})
    text = render_diff_section(d)
    assert "<script>" not in text and "&lt;script&gt;" in text
    rows = list(csv.DictReader(to_csv(d).splitlines()))
    assert tuple(rows[0]) == DIFF_COLUMNS and rows[0]["after"] == "nan"


def _report(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.mkdir(parents=True)
    with (path / "discrepancies.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, DISCREPANCY_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def test_cli_exit_codes_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _report(tmp_path / "a", A_ROWS), _report(tmp_path / "b", B_ROWS)
    out = tmp_path / "upgrade"
    assert main(["diff", str(a), str(b), "--cases", str(tmp_path / "none"),
                 "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "torch 2.13.0 -> 2.14.0" in printed and "training_scale" in printed
    assert printed.count("training_scale") == 1  # the table once
    assert printed.splitlines()[-1].startswith("behaviour changed: 3 behaviour rows,")
    assert (out / "diff.csv").read_text().startswith(",".join(DIFF_COLUMNS))
    assert main(["diff", str(a), str(a), "--out", str(out)]) == 0
    assert main(["diff", str(a), str(tmp_path / "missing"), "--out", str(out)]) == 2
