"""Variable IO of each framework's batch-norm layer (``Implementation.portable()``), against
the real framework: names as the framework writes them, values in and out by role, and
inference that uses exactly the loaded statistics (checked with the oracle's normalize)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conformance.adapters import load_adapter
from conformance.adapters.base import Portable
from conformance.oracle import batchnorm as bn

KERAS_NAMES = ["gamma", "beta", "moving_mean", "moving_variance"]
ROWS = [
    pytest.param("torch", "torch.nn.BatchNorm2d",
                 ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"],
                 marks=pytest.mark.framework("torch")),
    pytest.param("keras", "keras.layers.BatchNormalization", KERAS_NAMES,
                 marks=pytest.mark.framework("tensorflow")),
    pytest.param("tf_keras", "tf_keras.layers.BatchNormalization", KERAS_NAMES,
                 marks=pytest.mark.framework("tensorflow")),
    pytest.param("keras_jax", "keras.layers.BatchNormalization", KERAS_NAMES,
                 marks=pytest.mark.framework("keras_jax")),
    pytest.param("keras_torch", "keras.layers.BatchNormalization", KERAS_NAMES,
                 marks=pytest.mark.framework("keras_torch")),
    pytest.param("flax", "flax.linen.BatchNorm",
                 ["params/scale", "params/bias", "batch_stats/mean", "batch_stats/var"],
                 marks=pytest.mark.framework("flax")),
    pytest.param("paddle", "paddle.nn.BatchNorm2D", ["weight", "bias", "_mean", "_variance"],
                 marks=pytest.mark.framework("paddle")),
    pytest.param("mxnet", "mxnet.gluon.nn.BatchNorm",
                 ["gamma", "beta", "running_mean", "running_var"],
                 marks=pytest.mark.framework("mxnet")),
]
SHAPE = (4, 3, 2, 2)
VALUES = {"gamma": np.array([1.0, 2.0, 0.5], np.float32),
          "beta": np.array([0.0, -1.0, 3.0], np.float32),
          "running_mean": np.array([0.5, -0.5, 2.0], np.float32),
          "running_var": np.array([1.5, 0.25, 4.0], np.float32)}


def portable(framework: str, name: str) -> Portable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = load_adapter(framework)
        adapter.load()
    port = next(i.portable() for i in adapter.implementations()
                if i.name == name and i.op == "batchnorm")
    assert port is not None, f"{framework}: {name} has no variable IO"
    return port


@pytest.mark.parametrize(("framework", "name", "names"), ROWS)
def test_variables_in_and_out_by_role(framework: str, name: str, names: list[str]) -> None:
    port = portable(framework, name)
    layer = port.build(port.arguments(SHAPE, 1, 0.1, 1e-3), SHAPE, "float32")
    assert [v.name for v in port.read(layer)] == names, port.read(layer)
    port.write(layer, VALUES)
    held = {v.role: v.value for v in port.read(layer)}
    for role, value in VALUES.items():
        np.testing.assert_array_equal(held[role], value, err_msg=f"{framework} {role}")
    x = np.random.default_rng(7).normal(size=SHAPE).astype(np.float32)
    expected = bn.normalize(x, 1, VALUES["running_mean"], VALUES["running_var"], 1e-3,
                            VALUES["gamma"], VALUES["beta"], bn.Conventions())
    np.testing.assert_allclose(port.infer(layer, x), expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"{framework}: inference ignores loaded variables")
    y = port.train(layer, x)
    assert y.shape == SHAPE and np.isfinite(y).all()
    after = {v.role: v.value for v in port.read(layer)}
    assert not np.array_equal(after["running_mean"], VALUES["running_mean"]), \
        f"{framework}: a training step left the running mean where it was"
    assert port.row(layer).startswith(name)


@pytest.mark.parametrize(("framework", "name", "names"), ROWS)
def test_a_cumulative_average_is_refused_where_there_is_none(framework: str, name: str,
                                                             names: list[str]) -> None:
    port = portable(framework, name)
    if framework == "torch":
        assert port.arguments(SHAPE, 1, "none", "default")["momentum"] is None
        return
    from conformance.adapters.base import Unsupported

    with pytest.raises(Unsupported, match="cumulative"):
        port.arguments(SHAPE, 1, "none", "default")
