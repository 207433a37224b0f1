"""The one reader of measured conventions: CSV today, cards later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.explore.conventions import check_source, conventions_of

CSV = ("framework,framework_version,implementation,op,behaviour,documented,actual,agrees,"
       "evidence\ntorch,2,torch.nn.BatchNorm2d,batchnorm,momentum_default,0.1,0.1,yes,\n")


def test_csv_and_base_fallback(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    assert conventions_of(path, "torch", "torch.nn.BatchNorm2d[x]", "batchnorm") == {
        "momentum_default": "0.1"}
    assert conventions_of(path, "torch", "other", "batchnorm") == {}


def test_cards_folder(tmp_path: Path) -> None:
    card = {"card_schema": 1, "framework": "mxnet", "framework_version": "1.9.1",
            "implementations": [{"implementation": "m", "op": "batchnorm", "behaviours": {
                "epsilon_default": {"value": "0.001", "status": "earned",
                                    "exact": 0.0010000000474974513},
                "momentum_default": {"value": "0.9", "status": "earned"}}}]}
    (tmp_path / "mxnet-1.9.1.json").write_text(json.dumps(card))
    assert conventions_of(tmp_path, "mxnet", "m", "batchnorm") == {
        "epsilon_default": "0.0010000000474974513", "momentum_default": "0.9"}


def test_missing_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no measured conventions"):
        check_source(tmp_path / "none.csv")
