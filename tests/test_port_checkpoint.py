"""Checkpoints: formats refused early, batch-norm layers found by their variables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.port.checkpoint import batchnorm_layers, check_format, others, read

TORCH_NAMES = [("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean"),
               ("running_var", "running_var"), ("count", "num_batches_tracked")]


def test_torch_style_npz_finds_the_batchnorm_layers(tmp_path: Path) -> None:
    arrays = {"conv.weight": np.ones((4, 3, 3, 3)), "conv.bias": np.zeros(4),
              "bn.weight": np.full(4, 2.0), "bn.bias": np.zeros(4),
              "bn.running_mean": np.arange(4.0), "bn.running_var": np.ones(4),
              "bn.num_batches_tracked": np.array(3)}
    np.savez(tmp_path / "m.npz", **arrays)
    flat = read(tmp_path / "m.npz")
    layers = batchnorm_layers(flat, TORCH_NAMES)
    assert list(layers) == ["bn"] and layers["bn"]["gamma"][0] == 2.0
    assert sorted(others(flat, layers)) == ["conv.bias", "conv.weight"]


def test_keras_files_store_variables_by_position() -> None:
    names = [("gamma", "gamma"), ("beta", "beta"), ("running_mean", "moving_mean"),
             ("running_var", "moving_variance")]
    flat = {f"layers/batch_normalization/vars/{i}": np.full(3, float(i)) for i in range(4)}
    flat["layers/dense/vars/0"] = np.ones((3, 2))
    layers = batchnorm_layers(flat, names)
    assert list(layers) == ["layers/batch_normalization"]
    assert layers["layers/batch_normalization"]["running_var"][0] == 3.0


def test_bad_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        check_format(tmp_path / "missing.pt")
    (tmp_path / "m.ckpt").write_text("x")
    with pytest.raises(ValueError, match="unknown format"):
        check_format(tmp_path / "m.ckpt")
    np.save(tmp_path / "single.npy", np.ones(2))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(ValueError):
        read(tmp_path / "single.npz")
