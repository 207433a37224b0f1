"""The TensorFlow-ops adapter against the real TensorFlow, in the tensorflow env."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")  # tf.compat.v1.layers routes to it

from conformance.adapters._tf_v1 import V1_BN
from conformance.adapters.base import Implementation
from conformance.adapters.tfops import (
    FUSED,
    NN_BN,
    NN_DROPOUT,
    V1_NN_DROPOUT,
    TensorflowAdapter,
)
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("tensorflow")
CASES = generate()


@pytest.fixture(scope="module")
def adapter() -> TensorflowAdapter:
    a = TensorflowAdapter()
    a.load()
    return a


def _impl(adapter: TensorflowAdapter, name: str, op: str = "batchnorm",
          update_ops: bool = True) -> Implementation:
    base = name.split("[", maxsplit=1)[0]  # V1_NN_DROPOUT carries its [keep_prob] qualifier
    return next(i for i in adapter.implementations() if i.name.split("[")[0] == base
                and i.op == op and getattr(i, "with_update_ops", True) == update_ops)


def _case(family: str, **params: object) -> Case:
    return next(c for c in CASES if c.family == family
                and all(c.get(k) == v for k, v in params.items()))


def _expected(case: Case, inputs: dict[str, np.ndarray], momentum: float,
              conv: bn.Conventions) -> dict[str, np.ndarray]:
    return bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                       inputs["beta"], momentum, 1e-3, conv)


def test_names_are_unique_per_op(adapter: TensorflowAdapter) -> None:
    keys = [(i.name, i.op) for i in adapter.implementations()]
    assert len(keys) == len(set(keys))


def test_every_claim_quote_is_in_the_installed_docstring(adapter: TensorflowAdapter) -> None:
    claims = adapter.documented()
    assert len(claims) >= 15
    assert not [c for c in claims if c.verified is False]


def test_every_implementation_runs_some_case(adapter: TensorflowAdapter) -> None:
    for impl in adapter.implementations():
        case = next(c for c in CASES if c.op == impl.op and impl.supports(c) is None
                    and c.get("rate") not in (0.0, 1.0))
        out = impl.run(case, inputs_for(case))
        assert "y_train" in out, impl.name


def test_recipe_keeps_the_tutorial_ema(adapter: TensorflowAdapter) -> None:
    case = _case("bn_sequence")
    inputs = inputs_for(case)
    out = _impl(adapter, NN_BN).run(case, inputs)
    conv = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased")
    exp = _expected(case, inputs, float(case.get("momentum")), conv)  # type: ignore[arg-type]
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key


def test_fused_kernel_weights_the_new_batch_and_returns_unbiased_variance(
        adapter: TensorflowAdapter) -> None:
    case = _case("bn_layout", shape=(4, 3, 4, 4))
    inputs = inputs_for(case)
    out = _impl(adapter, FUSED).run(case, inputs)
    # Default exponential_avg_factor=1.0: the "running" statistics are the batch's own.
    conv = bn.Conventions(momentum_convention="weight_on_new", running_variance_update="unbiased")
    exp = _expected(case, inputs, 1.0, conv)
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key
    _, var, n = bn.batch_moments(inputs["train"][0], 1)
    np.testing.assert_allclose(out["batch_var_returned"], var * n / (n - 1), rtol=1e-5)


def test_fused_kernel_has_no_float64(adapter: TensorflowAdapter) -> None:
    assert _impl(adapter, FUSED).supports(_case("bn_dtype", dtype="float64"))


@pytest.mark.parametrize("update_ops", [True, False], ids=["with", "without"])
def test_v1_layer_updates_only_through_update_ops(adapter: TensorflowAdapter,
                                                  update_ops: bool) -> None:
    case = _case("bn_momentum", momentum=0.5)  # 0.5 is exact in float32 (see below)
    inputs = inputs_for(case)
    impl = _impl(adapter, V1_BN, update_ops=update_ops)
    out = impl.run(case, inputs)
    conv = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased",
                          stats_update_trigger="forward" if update_ops else "never")
    exp = _expected(case, inputs, 0.5, conv)
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key
    np.testing.assert_array_equal(out["mean_after_forward"], 0.0)
    assert (out["mean_after_backward"] != 0).all() == update_ops


def test_v1_layer_rounds_momentum_to_float32_for_float64_variables(
        adapter: TensorflowAdapter) -> None:
    # tf_keras _assign_moving_average: decay = convert_to_tensor(1.0 - momentum) is float32.
    case = _case("bn_momentum", momentum=0.1)
    inputs = inputs_for(case)
    out = _impl(adapter, V1_BN).run(case, inputs)
    conv = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased")
    rounded = 1.0 - float(np.float32(1.0 - 0.1))
    exp = _expected(case, inputs, rounded, conv)
    np.testing.assert_allclose(out["running_mean"], exp["running_mean"], rtol=1e-13, atol=1e-13)
    assert not compare(out["running_mean"], _expected(case, inputs, 0.1, conv)["running_mean"],
                       case.tolerance).passed


def test_v1_fused_path_folds_the_unbiased_variance(adapter: TensorflowAdapter) -> None:
    case = _case("bn_layout", shape=(4, 3, 4, 4))
    impl = _impl(adapter, V1_BN)
    assert impl.qualify(case) == f"{V1_BN}[with_update_ops,fused]"
    inputs = inputs_for(case)
    out = impl.run(case, inputs)
    conv = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="unbiased")
    exp = _expected(case, inputs, 0.99, conv)
    assert compare(out["running_var"], exp["running_var"], case.tolerance).passed


def test_dropout_rate_and_keep_prob(adapter: TensorflowAdapter) -> None:
    case = _case("do_rate", rate=0.9)
    x = inputs_for(case)["x"]
    for name, keep in ((NN_DROPOUT, 0.1), (V1_NN_DROPOUT, 0.9)):
        adapter.seed(case.seed)
        y = _impl(adapter, name, "dropout").run(case, {"x": x})["y_train"]
        kept = y != 0
        assert abs(kept.mean() - keep) < 0.05, name
        np.testing.assert_allclose(y[kept], x[kept] / np.float32(keep), rtol=1e-6)
    with pytest.raises(ValueError, match="rate"):
        _impl(adapter, NN_DROPOUT, "dropout").run(_case("do_rate", rate=1.0),
                                                   inputs_for(_case("do_rate", rate=1.0)))
