"""The PaddlePaddle adapter against the real paddle (CPU wheel), in the paddle nox environment."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # paddle warns at import that it found no ccache
    pytest.importorskip("paddle")

from adapter_checks import assert_claims_verified, assert_every_implementation_runs

from conformance.adapters.paddle_adapter import PaddleAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("paddle")
CASES = generate()
BN = ("paddle.nn.BatchNorm1D", "paddle.nn.BatchNorm2D", "paddle.nn.BatchNorm3D")


@pytest.fixture(scope="module")
def adapter() -> PaddleAdapter:
    a = PaddleAdapter()
    a.load()
    return a


def _impl(adapter: PaddleAdapter, name: str, op: str = "batchnorm") -> object:
    return next(i for i in adapter.implementations() if i.name == name and i.op == op)


def test_every_claim_quote_is_in_the_installed_docstring(adapter: PaddleAdapter) -> None:
    assert_claims_verified(adapter, 33)


def test_defaults_come_from_the_signatures(adapter: PaddleAdapter) -> None:
    defaults = {(c.implementation, c.behaviour): c.value for c in adapter.documented()
                if c.source.startswith("signature")}
    assert defaults == {(n, b): v for n in BN
                        for b, v in (("momentum_default", "0.9"), ("epsilon_default", "1e-05"))}


def test_every_implementation_runs_some_case(adapter: PaddleAdapter) -> None:
    assert_every_implementation_runs(adapter, CASES, 2)


@pytest.mark.parametrize("case", [c for c in CASES if c.family in ("bn_momentum", "bn_fused")
                                  and c.dtype == "float32" and c.get("momentum") != "none"
                                  and c.channel_axis == 1],
                         ids=lambda c: c.id)
def test_momentum_is_the_weight_on_the_old_statistic(adapter: PaddleAdapter, case: Case) -> None:
    """ra = momentum * ra + (1 - momentum) * batch, the biased variance, epsilon inside."""
    name = next(n for n in BN if _impl(adapter, n).supports(case) is None)  # type: ignore[attr-defined]
    inputs = inputs_for(case)
    out = _impl(adapter, name).run(case, inputs)  # type: ignore[attr-defined]
    momentum = case.get("momentum")
    eps = case.get("epsilon")
    exp = bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                      inputs["beta"], 0.9 if momentum == "default" else float(momentum),  # type: ignore[arg-type]
                      1e-5 if eps == "default" else float(eps),  # type: ignore[arg-type]
                      bn.Conventions(momentum_convention="weight_on_old",
                                     running_variance_update="biased"))
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key


def test_half_precision_batchnorm_is_unsupported_with_the_kernel_reason(
        adapter: PaddleAdapter) -> None:
    case = next(c for c in CASES if c.op == "batchnorm" and c.dtype == "float16")
    for name in BN:
        reason = _impl(adapter, name).supports(case)  # type: ignore[attr-defined]
        assert reason


def test_float64_layers_keep_float64_statistics(adapter: PaddleAdapter) -> None:
    case = next(c for c in CASES if c.op == "batchnorm" and c.dtype == "float64"
                and len(c.shape) == 4 and c.channel_axis == 1)
    out = _impl(adapter, "paddle.nn.BatchNorm2D").run(case, inputs_for(case))  # type: ignore[attr-defined]
    assert out["running_var"].dtype == np.float64 and out["y_train"].dtype == np.float64


def test_channels_last_is_its_own_row(adapter: PaddleAdapter) -> None:
    case = next(c for c in CASES if c.op == "batchnorm" and len(c.shape) == 4
                and c.channel_axis == 3)
    assert _impl(adapter, "paddle.nn.BatchNorm2D").qualify(case) == (  # type: ignore[attr-defined]
        "paddle.nn.BatchNorm2D[data_format=NHWC]")


def test_a_single_element_per_channel_comes_back_unchanged(adapter: PaddleAdapter) -> None:
    """The measured batch_size_one_training: the CPU kernel copies x to y (no gamma, no
    beta) and leaves the running statistics at 0 and 1."""
    case = next(c for c in CASES if c.family == "bn_batch" and c.shape[0] == 1
                and len(c.shape) == 2)
    inputs = inputs_for(case)
    out = _impl(adapter, "paddle.nn.BatchNorm1D").run(case, inputs)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(out["y_train"], inputs["train"].astype(out["y_train"].dtype))
    assert not out["running_mean"].any()


@pytest.mark.parametrize("name", ["paddle.nn.Dropout", "paddle.nn.functional.dropout",
                                  "paddle.nn.Dropout[mode=downscale_in_infer]"])
def test_dropout_follows_the_case_seed_and_broadcasts_along_axis(adapter: PaddleAdapter,
                                                                 name: str) -> None:
    case = next(c for c in CASES if c.family == "do_noise_shape")
    impl = _impl(adapter, name, "dropout")
    adapter.seed(case.seed)
    first = impl.run(case, inputs_for(case))  # type: ignore[attr-defined]
    adapter.seed(case.seed)
    again = impl.run(case, inputs_for(case))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(first["y_train"], again["y_train"])
    kept = first["y_train"] != 0
    noise = case.get("noise_shape")
    assert isinstance(noise, tuple)
    shared = tuple(i for i, n in enumerate(noise) if n == 1)
    assert (kept == kept.take([0], axis=shared[0])).all()


def test_downscale_in_infer_scales_at_inference_not_in_training(adapter: PaddleAdapter) -> None:
    case = next(c for c in CASES if c.op == "dropout" and c.get("rate") == 0.5
                and c.dtype == "float32" and len(c.shape) > 1 and c.get("noise_shape") is None)
    x = inputs_for(case)["x"]
    out = _impl(adapter, "paddle.nn.Dropout[mode=downscale_in_infer]", "dropout").run(  # type: ignore[attr-defined]
        case, inputs_for(case))
    kept = out["y_train"] != 0
    np.testing.assert_array_equal(out["y_train"][kept], x[kept])
    np.testing.assert_allclose(out["y_eval"], x * 0.5)


def test_downscale_in_infer_inference_on_rank_one_input_is_an_error() -> None:
    """The measured ERROR row (a suspected bug): inference-mode downscale_in_infer dropout
    rejects a rank-1 tensor that training mode and upscale_in_train accept."""
    import paddle

    x = paddle.ones([8])
    assert paddle.nn.functional.dropout(x, 0.5, training=True,
                                        mode="downscale_in_infer").shape == [8]
    with pytest.raises(ValueError, match="num_col_dims"):
        paddle.nn.functional.dropout(x, 0.5, training=False, mode="downscale_in_infer")
