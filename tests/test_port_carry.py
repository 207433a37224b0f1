"""A real checkpoint ported: its batch-norm layers found, run in source and target (here
the oracle's NumPy layer on both sides), graded bit for bit, and renamed for the target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from port_helpers import numpy_runs  # tests/ is on sys.path (rootdir-relative)

from conformance.port.carry import port_checkpoint
from conformance.port.core import side


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return numpy_runs(tmp_path_factory.mktemp("port-carry"))


def test_every_batchnorm_layer_is_ported_and_the_rest_carried(
        measured: tuple[Path, Path], tmp_path: Path) -> None:
    runs, cases = measured
    arrays = {f"bn{i}/{k}": np.linspace(0.5, 2.0, 4) * i for i in (1, 2)
              for k in ("gamma", "beta", "running_mean", "running_var")}
    arrays["conv/weight"] = np.ones((4, 3, 3, 3))
    np.savez(tmp_path / "model.npz", **arrays)
    p, mapped = port_checkpoint(side("numpy"), side("numpy"), tmp_path / "model.npz", runs,
                                cases, tmp_path / "work", {})
    assert p.inference.short == "exact" and p.inference.cases == 2, p.to_json()
    assert p.training.short == "exact", p.to_json()
    np.testing.assert_array_equal(mapped["bn2/running_var"], arrays["bn2/running_var"])
    assert mapped["conv/weight"].shape == (4, 3, 3, 3)


def test_a_checkpoint_without_batchnorm_is_an_outcome(measured: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    runs, cases = measured
    np.savez(tmp_path / "model.npz", **{"conv.weight": np.ones((2, 2))})
    p, mapped = port_checkpoint(side("numpy"), side("numpy"), tmp_path / "model.npz", runs,
                                cases, tmp_path / "work", {})
    assert mapped == {} and "no batch-norm layer" in p.inference.text
