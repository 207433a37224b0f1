"""What each adapter declares about provenance, read without importing any framework.

The adapters import their framework lazily, so their declarations (recipe
behaviours, demonstrations, mask shapes, row names) are plain Python and can be
checked here, in the suite's own tests.
"""

from __future__ import annotations

from conformance.adapters.base import RECIPE_PREFIX, Adapter, Implementation
from conformance.adapters.keras3 import KerasAdapter
from conformance.adapters.mxnet1 import MxnetAdapter
from conformance.adapters.pytorch import TorchAdapter
from conformance.adapters.tfkeras import TfKerasAdapter
from conformance.adapters.tfops import TensorflowAdapter
from conformance.cases import generate
from conformance.cases.model import Case
from conformance.spec import BEHAVIOUR_BY_NAME

CASES = generate()
ADAPTERS: list[Adapter] = [TorchAdapter(), KerasAdapter(), TfKerasAdapter(),
                           TensorflowAdapter(), MxnetAdapter()]


def _impl(name: str, op: str) -> Implementation:
    return next(i for a in ADAPTERS for i in a.implementations()
                if i.name == name and i.op == op)


def _case(op: str, **params: object) -> Case:
    return next(c for c in CASES if c.op == op
                and all(c.get(k) == v for k, v in params.items()))


def test_declared_recipe_behaviours_are_spec_behaviours() -> None:
    for a in ADAPTERS:
        for impl in a.implementations():
            for case in (c for c in CASES if c.op == impl.op):
                assert impl.recipe_behaviours(case) <= BEHAVIOUR_BY_NAME.keys(), impl.name


def test_no_row_pretends_to_be_a_module_of_the_suite() -> None:
    names = {i.name for a in ADAPTERS for i in a.implementations()}
    assert not any(n.startswith("conformance.") for n in names)
    assert {"recipe:keras.Centering", "recipe:torch.MeanCentering"} <= names
    assert "tf.compat.v1.nn.dropout[keep_prob]" in names


def test_tf_nn_recipe_owns_its_ema_not_the_formula() -> None:
    recipe = _impl("tf.nn.batch_normalization", "batchnorm").recipe_behaviours(
        _case("batchnorm"))
    assert {"momentum_default", "momentum_convention", "epsilon_default",
            "running_variance_update"} <= recipe
    assert not recipe & {"epsilon_placement", "gamma_applied", "epsilon_effective"}


def test_trainable_stand_ins_are_declared() -> None:
    case = _case("batchnorm")
    for name in ("torch.nn.BatchNorm2d", "mxnet.gluon.nn.BatchNorm"):
        assert _impl(name, "batchnorm").recipe_behaviours(case) == {"frozen_layer_mode"}
    for name in ("keras.layers.BatchNormalization", "tf_keras.layers.BatchNormalization"):
        assert not _impl(name, "batchnorm").recipe_behaviours(case)  # a real trainable flag
    for name in ("recipe:keras.Centering", "recipe:torch.MeanCentering"):
        assert name.startswith(RECIPE_PREFIX)
        recipe = _impl(name, "centering").recipe_behaviours(_case("centering"))
        assert {"variance_normalized", "offset_applied"} <= recipe


def test_demonstrations_state_their_scenario() -> None:
    bn = _case("batchnorm")
    without = _impl("tf.compat.v1.layers.batch_normalization[without_update_ops]", "batchnorm")
    assert "UPDATE_OPS" in without.demonstration(bn)
    assert not _impl("tf.compat.v1.layers.batch_normalization[with_update_ops]",
                     "batchnorm").demonstration(bn)
    gluon = _impl("mxnet.gluon.nn.BatchNorm", "centering")
    assert "beta" in gluon.demonstration(_case("centering", flags="center_off"))
    assert not gluon.demonstration(_case("centering", flags="scale_off"))


def test_declared_mask_shapes() -> None:
    plain = _case("dropout", shape=(8, 16, 32))
    noisy = _case("dropout", noise_shape=(32, 1, 16))
    assert _impl("tf_keras.layers.AlphaDropout", "dropout").mask_shape(plain) is None
    assert _impl("tf_keras.layers.SpatialDropout1D", "dropout").mask_shape(plain) == (8, 1, 32)
    assert _impl("keras.layers.SpatialDropout1D", "dropout").mask_shape(noisy) == (32, 1, 16)
    for name in ("keras.layers.Dropout", "tf.nn.dropout", "mxnet.nd.Dropout",
                 "tf.compat.v1.nn.dropout[keep_prob]"):
        impl = _impl(name, "dropout")
        assert impl.mask_shape(plain) == plain.shape and impl.mask_shape(noisy) == (32, 1, 16)
