"""The Keras 3 adapter against the real keras (TensorFlow backend), in the tensorflow env."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("keras")

from conformance.adapters.base import Implementation, Unsupported
from conformance.adapters.keras3 import BN, CENTERING, KerasAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("tensorflow")
CASES = generate()
# What the docstring states: moving = moving*momentum + batch*(1-momentum), sqrt(var+eps).
# It does not name the variance estimator; the layer uses tf.nn.moments (biased).
KERAS = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased")


@pytest.fixture(scope="module")
def adapter() -> KerasAdapter:
    a = KerasAdapter()
    a.load()
    return a


def _impl(adapter: KerasAdapter, op: str, name: str, fit: bool = False) -> Implementation:
    return next(i for i in adapter.implementations() if i.op == op
                and i.name == (f"{name}[fit]" if fit else name))


def _case(family: str, **params: object) -> Case:
    return next(c for c in CASES if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def _expected(case: Case, inputs: dict[str, np.ndarray],
              conv: bn.Conventions = KERAS) -> dict[str, np.ndarray]:
    momentum = 0.99 if case.get("momentum") == "default" else float(case.get("momentum"))  # type: ignore[arg-type]
    eps = 1e-3 if case.get("epsilon") == "default" else float(case.get("epsilon"))  # type: ignore[arg-type]
    return bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                       inputs["beta"], momentum, eps, conv)


def test_names_are_unique_per_op(adapter: KerasAdapter) -> None:
    keys = [(i.name, i.op) for i in adapter.implementations()]
    assert len(keys) == len(set(keys))


def test_every_claim_quote_is_in_the_installed_docstring(adapter: KerasAdapter) -> None:
    claims = adapter.documented()
    assert len(claims) >= 10
    assert not [c for c in claims if c.verified is False]


def test_every_implementation_runs_some_case(adapter: KerasAdapter) -> None:
    # No case family has a rank-4/5 channel-wise noise_shape yet for these two.
    no_case = {"keras.layers.SpatialDropout2D", "keras.layers.SpatialDropout3D"}
    for impl in adapter.implementations():
        case = next((c for c in CASES if c.op == impl.op and impl.supports(c) is None), None)
        if case is None:
            assert impl.name in no_case
            continue
        out = impl.run(case, inputs_for(case))
        assert "y_eval" in out and ("y_train" in out or "running_mean" in out), impl.name


@pytest.mark.parametrize("fit", [False, True], ids=["direct", "fit"])
@pytest.mark.parametrize("case", [_case("bn_sequence"), _case("bn_momentum", momentum=0.1),
                                  _case("bn_layout", shape=(4, 4, 4, 3)),
                                  _case("bn_epsilon", epsilon=1e-08)], ids=lambda c: c.id)
def test_batchnorm_follows_its_documented_conventions(adapter: KerasAdapter, case: Case,
                                                      fit: bool) -> None:
    inputs = inputs_for(case)
    out = _impl(adapter, "batchnorm", BN, fit).run(case, inputs)
    exp = _expected(case, inputs)
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        if key in out:
            assert compare(out[key], exp[key], case.tolerance).passed, key


def test_frozen_layer_normalizes_with_moving_statistics(adapter: KerasAdapter) -> None:
    case = _case("bn_sequence")
    inputs = inputs_for(case)
    out = _impl(adapter, "batchnorm", BN).run(case, inputs)
    c = case.channels
    exp = bn.normalize(inputs["train"][0], case.channel_axis, np.zeros(c), np.ones(c), 1e-3,
                       inputs["gamma"], inputs["beta"], KERAS)
    assert compare(out["frozen_train"], exp, case.tolerance).passed
    # The statistics move in the forward pass already, and the backward pass adds nothing.
    assert np.abs(out["mean_after_forward"]).min() > 0
    np.testing.assert_array_equal(out["mean_after_forward"], out["mean_after_backward"])


def test_centering_recipe_subtracts_the_mean_only(adapter: KerasAdapter) -> None:
    case = _case("ce_flags", flags="mean_only", shape=(8, 3, 4, 4))
    inputs = inputs_for(case)
    impl = _impl(adapter, "centering", CENTERING)
    out = impl.run(case, inputs)
    exp = _expected(case, inputs, KERAS.with_(variance_normalized=False, gamma_applied=False))
    for key in ("y_train", "running_mean", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key
    assert _impl(adapter, "centering", BN).qualify(_case("ce_flags", flags="affine_off")) \
        == "keras.layers.BatchNormalization[center=False,scale=False]"
    with pytest.raises(Unsupported):
        _impl(adapter, "centering", BN).run(case, inputs)


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
    assert impl.supports(case) is None
    kept = impl.run(case, inputs_for(case))["y_train"] != 0
    assert (kept == kept[:, :1, :]).all() and 0 < kept.mean() < 1
    plain = _case("do_shape", shape=(8, 16, 32))
    assert impl.supports(plain) is not None
    assert _impl(adapter, "dropout", "keras.layers.SpatialDropout2D").supports(plain)
