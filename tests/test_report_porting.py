"""The HTML porting table: verified ports by framework pair, or 'not run', never the oracle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conformance.report import html as report_html
from conformance.report.porting import load_ports, pair_verdicts


def _record(src: str, dst: str, grade: str, text: str) -> dict[str, object]:
    verdict = {"grade": {"grade": grade}, "text": text}
    return {"source_framework": src, "target_framework": dst, "source": f"{src}.BN",
            "target": f"{dst}.BN", "arguments": {"momentum": 0.9}, "inference": verdict,
            "training": verdict, "cannot_carry_over": ["<b>lost</b>"]}


def test_load_ports_keeps_the_latest_per_pair_and_skips_junk(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_record("torch", "keras", "fails", "old")))
    (tmp_path / "b.json").write_text(json.dumps(_record("torch", "keras", "exact", "new")))
    os.utime(tmp_path / "a.json", (1, 1))
    (tmp_path / "c.json").write_text("{not json")
    ports = load_ports(tmp_path)
    assert list(ports) == [("torch", "keras")]
    assert ports[("torch", "keras")]["inference"]["text"] == "new"  # type: ignore[index]
    assert load_ports(tmp_path / "missing") == {}


def test_pairs_are_ordered_real_frameworks_and_numpy_only_as_target() -> None:
    pairs = pair_verdicts(["onnxruntime", "torch"], {})
    assert [(p.source, p.target) for p in pairs] == [
        ("onnxruntime", "torch"), ("onnxruntime", "numpy"), ("torch", "onnxruntime"),
        ("torch", "numpy")]
    why = {(p.source, p.target): p.why_not for p in pairs}
    assert why[("torch", "numpy")] == "not run (nox -s port)"
    assert "no variable IO" in why[("onnxruntime", "torch")]


def test_table_shows_graded_verdicts_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "port_frameworks", lambda data: ["keras", "torch"])
    ports = {("torch", "keras"): _record("torch", "keras", "float32",
                                         "equal within float32 precision: 3 ulps")}
    page = report_html._pairs(None, ports)  # type: ignore[arg-type]
    assert "<td class='verified'>equal within float32 precision: 3 ulps</td>" in page
    assert "&lt;b&gt;lost&lt;/b&gt;" in page and "<b>lost</b>" not in page
    assert "not run (nox -s port)" in page  # keras -> torch, keras -> numpy ...
    assert "failed" not in page
