"""What the TensorFlow-family adapters do to cut their per-case cost leaves each row's
outputs as a fresh set-up gives them: seeding deferred to the dropout rows, the probes
of a direct batch-norm row run on its own layer restored, one TF1 graph for both
update-op rows."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

# Not importorskip: importing TensorFlow before an adapter's load() would bypass its quiet,
# single-threaded set-up.
if importlib.util.find_spec("tf_keras") is None or importlib.util.find_spec("keras") is None:
    pytest.skip("keras and tf_keras are not both installed", allow_module_level=True)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from conformance.adapters import _tf_common, _tf_v1
from conformance.adapters.base import Adapter, Implementation
from conformance.adapters.keras3 import BN, KerasAdapter
from conformance.adapters.tfkeras import TfKerasAdapter
from conformance.adapters.tfops import TensorflowAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case

pytestmark = pytest.mark.framework("tensorflow")
CASES = generate()


@pytest.fixture(scope="module")
def adapters() -> dict[str, Adapter]:
    out: dict[str, Adapter] = {"tf_keras": TfKerasAdapter(), "tensorflow": TensorflowAdapter(),
                               "keras": KerasAdapter()}
    for adapter in out.values():
        adapter.load()
    return out


def _case(family: str, **params: object) -> Case:
    return next(c for c in CASES if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def _impl(adapter: Adapter, name: str, op: str = "batchnorm") -> Implementation:
    return next(i for i in adapter.implementations() if i.name == name and i.op == op)


@pytest.mark.parametrize(("framework", "dropout"), [
    ("keras", "keras.layers.Dropout"), ("tf_keras", "tf_keras.layers.Dropout"),
    ("tensorflow", "tf.nn.dropout")])
def test_batchnorm_rows_draw_no_random_numbers(adapters: dict[str, Adapter], framework: str,
                                               dropout: str) -> None:
    """Why deferring the seed to the dropout rows changes no output: a dropout row run
    after every batch-norm row, without seeding again, draws the mask it draws right
    after seeding."""
    adapter = adapters[framework]
    row = _impl(adapter, dropout, "dropout")
    case = _case("do_rate", rate=0.5)
    x = {"x": inputs_for(case)["x"]}
    adapter.seed(case.seed)
    want = row.run(case, x)["y_train"]
    bn_case = _case("bn_fused")
    adapter.seed(case.seed)
    _tf_common.apply_deferred_seed()
    for impl in adapter.implementations():
        if impl.op == "batchnorm" and impl.supports(bn_case) is None:
            impl.run(bn_case, inputs_for(bn_case))
    np.testing.assert_array_equal(row.run(case, x)["y_train"], want)


def test_tf_keras_probes_equal_those_of_new_layers(adapters: dict[str, Adapter]) -> None:
    import tensorflow as tf

    impl = _impl(adapters["tf_keras"], "tf_keras.layers.BatchNormalization[renorm]")
    case = _case("bn_fused", momentum=0.1)
    inputs = inputs_for(case)
    out = impl.run(case, inputs)
    x0 = tf.constant(inputs["train"][0])
    probe = impl.make(case, inputs)  # type: ignore[attr-defined]
    probe(x0, training=True)
    frozen = impl.make(case, inputs)  # type: ignore[attr-defined]
    frozen.trainable = False
    np.testing.assert_array_equal(out["mean_after_forward"], probe.moving_mean.numpy())
    np.testing.assert_array_equal(out["frozen_train"], frozen(x0, training=True).numpy())


def test_keras_probes_equal_those_of_new_layers(adapters: dict[str, Adapter]) -> None:
    impl = _impl(adapters["keras"], BN)
    case = _case("bn_momentum")
    inputs = inputs_for(case)
    out = impl.run(case, inputs)
    probe = impl._make(case, inputs)  # type: ignore[attr-defined]
    probe(inputs["train"][0], training=True)
    frozen = impl._make(case, inputs)  # type: ignore[attr-defined]
    frozen.trainable = False
    np.testing.assert_array_equal(out["mean_after_forward"], np.asarray(probe.moving_mean))
    np.testing.assert_array_equal(out["frozen_train"],
                                  np.asarray(frozen(inputs["train"][0], training=True)))


def test_v1_rows_share_one_graph_and_leave_no_state(adapters: dict[str, Adapter]) -> None:
    with_ops = _impl(adapters["tensorflow"], f"{_tf_v1.V1_BN}[with_update_ops]")
    without = _impl(adapters["tensorflow"], f"{_tf_v1.V1_BN}[without_update_ops]")
    case = _case("bn_momentum")
    inputs = inputs_for(case)
    first = with_ops.run(case, inputs)
    graph = _tf_v1._graph(case, inputs)
    stuck = without.run(case, inputs)
    again = with_ops.run(case, inputs)
    assert _tf_v1._graph(case, inputs) is graph
    for key, value in first.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
    assert not np.array_equal(first["running_mean"][-1], stuck["running_mean"][-1])
    other = _case("bn_epsilon")
    _tf_v1._graph(other, inputs_for(other))
    assert graph.sess._closed  # replaced: its session is closed
