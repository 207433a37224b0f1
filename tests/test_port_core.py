"""The port pipeline end to end on the oracle row (no framework): names, scenarios,
export and import passes in a subprocess, grades, and outcomes instead of tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from port_helpers import numpy_runs  # tests/ is on sys.path (rootdir-relative)

from conformance.cases import generate
from conformance.port.core import ORACLE, Side, port_many, scenarios, side


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return numpy_runs(tmp_path_factory.mktemp("port-core"))


def test_names_resolve_to_their_framework() -> None:
    assert side("torch.nn.BatchNorm2d") == Side("torch", "torch.nn.BatchNorm2d")
    assert side("keras_jax:keras.layers.BatchNormalization").framework == "keras_jax"
    assert side("numpy") == Side("numpy", ORACLE)
    for bad in ("bogus.Layer", "nope:torch.nn.BatchNorm2d", "torch:"):
        with pytest.raises(ValueError, match="not an implementation name"):
            side(bad)


def test_scenarios_are_plain_float32_channels_first_cases() -> None:
    chosen = scenarios(generate(["bn_layout", "bn_dtype", "bn_batch", "bn_offset"]))
    assert chosen and all(c.dtype == "float32" and c.channel_axis == 1 for c in chosen)
    assert all(c.shape[0] > 1 or len(c.shape) > 2 for c in chosen)  # no batch of one
    assert not any(c.informational for c in chosen)


def test_oracle_to_oracle_is_exact_both_ways(measured: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    runs, cases = measured
    (p,) = port_many([(side("numpy"), side("numpy"))], runs, cases, tmp_path, {})
    assert p.inference.short == "exact" and p.training.short == "exact", p.to_json()
    assert p.inference.cases >= 3
    assert {v["role"] for v in p.variables} == {"gamma", "beta", "running_mean",
                                                "running_var"}
    assert p.arguments["momentum"] == 0.1 and "conventions" in p.arguments


def test_missing_environment_and_conventions_are_outcomes(measured: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    runs, cases = measured
    torch, oracle = side("torch.nn.BatchNorm2d"), side("numpy")
    (p,) = port_many([(oracle, torch)], runs, cases, tmp_path, {})
    assert p.inference.grade is None and "no measured conventions" in p.inference.text
    assert "torch.nn.BatchNorm2d" in p.inference.text
