"""Known findings: reviewed data filtering what is new, and showing what is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.explore import sampler
from conformance.explore.group import RootCause
from conformance.explore.known import case_json, classify, load

CASE = sampler.bn_case({"shape": (2, 1), "channel_axis": "first", "dtype": "float16",
                        "momentum": "default", "epsilon": "default", "steps": 1,
                        "offset": 0.0, "spread": 1.0, "special": "none", "poison": "nan"})


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "known.toml"
    path.write_text(body)
    return path


def test_known_new_gone(tmp_path: Path) -> None:
    path = _write(tmp_path, f"""
[[finding]]
signature = "oracle|torch|batchnorm|value||dtype=float16"
triage = "real_bug"
reason = "r"
upstream = "https://example.org/1"
case = '{case_json(CASE)}'

[[finding]]
signature = "status|mxnet|dropout|error: X||"
triage = "not_a_bug"

[[finding]]
signature = "status|paddle|dropout|error: X||"
triage = "documented_limitation"

[[finding]]
signature = "pair|torch|batchnorm|value|onnxruntime:torch.onnx.export(BatchNorm2d)|float64"
triage = "real_bug"
""")
    known = load(path)
    assert known[0].case is not None and known[0].case.id == CASE.id, "case not rebuilt"
    still = RootCause("oracle|torch|batchnorm|value||dtype=float16", "oracle", "torch", "value",
                      ("dtype=float16",), "")
    new = RootCause("pair|torch|batchnorm|value|x|", "pair", "torch", "value", (), "x")
    v = classify([still, new], known, ran={"torch", "mxnet"})
    assert [c.signature for c in v.new] == [new.signature]
    assert [k.triage for _, k in v.still] == ["real_bug"]
    assert [k.signature for k in v.gone] == ["status|mxnet|dropout|error: X||"], \
        "paddle and onnxruntime did not run: their known findings cannot be called gone"


def test_bad_triage_is_one_line_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[finding]]\nsignature = "s"\ntriage = "maybe"\n')
    with pytest.raises(ValueError, match="finding 1: triage 'maybe'"):
        load(path)


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert load(tmp_path / "none.toml") == []
