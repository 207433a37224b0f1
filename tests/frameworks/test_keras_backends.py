"""The Keras 3 adapter on the JAX and PyTorch backends (keras_jax and keras_torch envs).

One module serves both environments: framework("keras_jax") where JAX is installed,
framework("keras_torch") otherwise. The adapter sets KERAS_BACKEND itself in load().
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

ENV = "keras_jax" if importlib.util.find_spec("jax") is not None else "keras_torch"
BACKEND = {"keras_jax": "jax", "keras_torch": "torch"}[ENV]
pytestmark = pytest.mark.framework(ENV)
if importlib.util.find_spec("keras") is None:
    pytest.skip("keras is not installed here", allow_module_level=True)

from conformance.adapters.base import Implementation  # noqa: E402
from conformance.adapters.keras3 import (  # noqa: E402
    BN,
    CENTERING,
    OPS_BN,
    KerasAdapter,
    KerasJaxAdapter,
    KerasTorchAdapter,
)
from conformance.cases import generate, inputs_for  # noqa: E402
from conformance.cases.model import Case  # noqa: E402
from conformance.compare.errors import compare  # noqa: E402
from conformance.oracle import batchnorm as bn  # noqa: E402

CASES = generate()
KERAS = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased")


@pytest.fixture(scope="module")
def adapter() -> KerasAdapter:
    a: KerasAdapter = KerasJaxAdapter() if ENV == "keras_jax" else KerasTorchAdapter()
    a.load()
    return a


def _impl(adapter: KerasAdapter, op: str, name: str) -> Implementation:
    return next(i for i in adapter.implementations() if i.op == op and i.name == name)


def _case(family: str, **params: object) -> Case:
    return next(c for c in CASES if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def _expected(case: Case, inputs: dict[str, np.ndarray],
              conv: bn.Conventions = KERAS) -> dict[str, np.ndarray]:
    momentum = 0.99 if case.get("momentum") == "default" else float(case.get("momentum"))  # type: ignore[arg-type]
    eps = 1e-3 if case.get("epsilon") == "default" else float(case.get("epsilon"))  # type: ignore[arg-type]
    return bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                       inputs["beta"], momentum, eps, conv)


def test_the_backend_is_the_environments(adapter: KerasAdapter) -> None:
    import keras

    assert keras.backend.backend() == BACKEND
    assert adapter.framework == ENV and adapter.environment()["backend"] == BACKEND


def test_every_claim_quote_is_in_the_installed_docstring(adapter: KerasAdapter) -> None:
    claims = adapter.documented()
    assert len(claims) >= 10
    assert not [c for c in claims if c.verified is False]


def test_every_implementation_runs_some_case(adapter: KerasAdapter) -> None:
    no_case = {"keras.layers.SpatialDropout2D", "keras.layers.SpatialDropout3D"}
    for impl in adapter.implementations():
        case = next((c for c in CASES if c.op == impl.op and impl.supports(c) is None), None)
        if case is None:
            assert impl.name in no_case
            continue
        out = impl.run(case, inputs_for(case))
        assert "y_eval" in out and ("y_train" in out or "running_mean" in out), impl.name


FLOAT32_CASES = [c for c in CASES if c.op == "batchnorm" and c.dtype == "float32"
                 and c.family in ("bn_layout", "bn_fused") and c.get("momentum") != "none"][:3]


@pytest.mark.parametrize("name", [BN, f"{BN}[fit]", OPS_BN])
@pytest.mark.parametrize("case", FLOAT32_CASES, ids=lambda c: c.id)
def test_batchnorm_follows_its_documented_conventions(adapter: KerasAdapter, case: Case,
                                                      name: str) -> None:
    inputs = inputs_for(case)
    out = _impl(adapter, "batchnorm", name).run(case, inputs)
    exp = _expected(case, inputs)
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        if key in out and case.get("special") == "none":
            assert compare(out[key], exp[key], case.tolerance).passed, key


def test_the_layer_computes_float64_in_float32_off_tensorflow(adapter: KerasAdapter) -> None:
    """keras.backend.result_type(float64, float32) is float32 off TensorFlow, and
    BatchNormalization.call casts its input to it: the [float64] row."""
    import keras

    assert keras.backend.result_type("float64", "float32") == "float32"
    case = _case("bn_momentum", dtype="float64")
    layer = _impl(adapter, "batchnorm", BN)
    assert layer.qualify(case) == f"{BN}[float64]"
    assert _impl(adapter, "batchnorm", OPS_BN).qualify(case) == OPS_BN
    inputs = inputs_for(case)
    out = layer.run(case, inputs)
    assert out["y_train"].dtype == np.float64
    err = np.abs(out["y_train"] - _expected(case, inputs)["y_train"]).max()
    assert 1e-12 < err < 1e-4  # float32 rounding, not a float64 one
    ops = _impl(adapter, "batchnorm", OPS_BN).run(case, inputs)
    assert np.abs(ops["y_train"] - _expected(case, inputs)["y_train"]).max() < 1e-12


def test_training_step_updates_statistics_in_the_forward(adapter: KerasAdapter) -> None:
    case = _case("bn_sequence")
    inputs = inputs_for(case)
    out = _impl(adapter, "batchnorm", BN).run(case, inputs)
    assert np.abs(out["mean_after_forward"]).min() > 0
    np.testing.assert_array_equal(out["mean_after_forward"], out["mean_after_backward"])


def test_moments_variance_on_this_backend() -> None:
    """torch: one pass (E[x^2] - E[x]^2), unclamped, so float32 data far from zero gets a
    negative variance and the layer outputs NaN; JAX: jnp.var, two passes."""
    import keras

    rng = np.random.default_rng(0)
    x = (1e4 + 1e-2 * rng.standard_normal((64, 3))).astype("float32")
    _, var = keras.ops.moments(x, axes=[0])
    y = keras.ops.convert_to_numpy(keras.layers.BatchNormalization()(x, training=True))
    if BACKEND == "torch":
        assert (keras.ops.convert_to_numpy(var) < 0).any() and np.isnan(y).any()
    else:
        assert (keras.ops.convert_to_numpy(var) >= 0).all() and not np.isnan(y).any()


def test_centering_recipe_subtracts_the_mean_only(adapter: KerasAdapter) -> None:
    case = _case("ce_flags", flags="mean_only", shape=(8, 3, 4, 4))
    inputs = inputs_for(case)
    impl = _impl(adapter, "centering", CENTERING)
    assert impl.qualify(case) == f"{CENTERING}[float64]"  # keras.ops.mean computes in float32
    out = impl.run(case, inputs)
    exp = _expected(case, inputs, KERAS.with_(variance_normalized=False, gamma_applied=False))
    for key in ("y_train", "running_mean", "y_eval"):
        np.testing.assert_allclose(out[key], exp[key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_dropout_scales_kept_values_and_is_identity_in_inference(adapter: KerasAdapter) -> None:
    case = _case("do_rate", rate=0.5)
    x = inputs_for(case)["x"]
    adapter.seed(case.seed)
    out = _impl(adapter, "dropout", "keras.layers.Dropout").run(case, {"x": x})
    kept = out["y_train"] != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(out["y_train"][kept], 2 * x[kept], rtol=1e-6)
    np.testing.assert_array_equal(out["y_eval"], x)
    adapter.seed(case.seed)
    again = _impl(adapter, "dropout", "keras.layers.Dropout").run(case, {"x": x})
    np.testing.assert_array_equal(out["y_train"], again["y_train"])


def test_spatial_dropout_drops_whole_channels(adapter: KerasAdapter) -> None:
    impl = _impl(adapter, "dropout", "keras.layers.SpatialDropout1D")
    case = _case("do_noise_shape", noise_shape=(32, 1, 16))
    kept = impl.run(case, inputs_for(case))["y_train"] != 0
    assert (kept == kept[:, :1, :]).all() and 0 < kept.mean() < 1
