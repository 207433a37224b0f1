"""The Flax adapter against the real flax and jax (CPU), in the flax nox environment."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flax")

from adapter_checks import assert_claims_verified, assert_every_implementation_runs

from conformance.adapters.flax_adapter import FlaxAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("flax")
CASES = generate()


@pytest.fixture(scope="module")
def adapter() -> FlaxAdapter:
    a = FlaxAdapter()
    a.load()
    return a


def _impl(adapter: FlaxAdapter, name: str, op: str = "batchnorm") -> object:
    return next(i for i in adapter.implementations() if i.name == name and i.op == op)


def test_every_claim_quote_is_in_the_installed_docstring(adapter: FlaxAdapter) -> None:
    assert_claims_verified(adapter, 19)


def test_defaults_come_from_the_signatures(adapter: FlaxAdapter) -> None:
    defaults = {(c.implementation, c.behaviour): c.value for c in adapter.documented()
                if c.source.startswith("signature")}
    assert set(defaults) == {(n, b) for n in ("flax.linen.BatchNorm", "flax.nnx.BatchNorm")
                             for b in ("momentum_default", "epsilon_default")}


# nnx writes float64 statistics into its float32 buffers; JAX warns (see below).
@pytest.mark.filterwarnings("ignore:scatter inputs have incompatible types:FutureWarning")
def test_every_implementation_runs_some_case(adapter: FlaxAdapter) -> None:
    assert_every_implementation_runs(adapter, CASES, 2)


@pytest.mark.parametrize("name", ["flax.linen.BatchNorm", "flax.nnx.BatchNorm"])
@pytest.mark.parametrize("case", [c for c in CASES if c.family == "bn_fused"
                                  and c.get("epsilon") == "default"], ids=lambda c: c.id)
def test_float32_batchnorm_follows_weight_on_old_with_the_biased_variance(
        adapter: FlaxAdapter, name: str, case: Case) -> None:
    """The running statistics are m*old + (1-m)*batch and the running variance the biased
    batch variance, with the defaults read from the installed signatures."""
    impl = _impl(adapter, name)
    inputs = inputs_for(case)
    out = impl.run(case, inputs)  # type: ignore[attr-defined]
    momentum = case.get("momentum")
    defaults = {(c.implementation, c.behaviour): float(c.value) for c in adapter.documented()
                if c.source.startswith("signature")}
    exp = bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                      inputs["beta"],
                      defaults[name, "momentum_default"] if momentum == "default"
                      else float(momentum),  # type: ignore[arg-type]
                      defaults[name, "epsilon_default"],
                      bn.Conventions(momentum_convention="weight_on_old",
                                     running_variance_update="biased"))
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key


def test_float64_rows_are_their_own_path(adapter: FlaxAdapter) -> None:
    case = next(c for c in CASES if c.family == "bn_momentum" and c.get("momentum") == 0.5)
    for name in ("flax.linen.BatchNorm", "flax.nnx.BatchNorm"):
        assert _impl(adapter, name).qualify(case) == f"{name}[float64]"  # type: ignore[attr-defined]


def test_nnx_keeps_float64_running_statistics_in_float32(adapter: FlaxAdapter) -> None:
    """The behaviour behind the [float64] row: nnx.BatchNorm creates its BatchStat buffers
    in float32 and writes each float64 update back into them, with a JAX warning."""
    case = next(c for c in CASES if c.family == "bn_momentum" and c.get("momentum") == 0.5)
    with pytest.warns(FutureWarning, match="cannot safely cast value from dtype=float64"):
        out = _impl(adapter, "flax.nnx.BatchNorm").run(case, inputs_for(case))  # type: ignore[attr-defined]
    rm = out["running_mean"]
    assert rm.dtype == np.float32
    assert out["y_train"].dtype == np.float64


def test_linen_float64_statistics_become_float64_after_the_first_update(
        adapter: FlaxAdapter) -> None:
    case = next(c for c in CASES if c.family == "bn_momentum" and c.get("momentum") == 0.5)
    out = _impl(adapter, "flax.linen.BatchNorm").run(case, inputs_for(case))  # type: ignore[attr-defined]
    assert out["running_var"].dtype == np.float64


def test_cumulative_average_is_unsupported(adapter: FlaxAdapter) -> None:
    case = next(c for c in CASES if c.family == "bn_momentum" and c.get("momentum") == "none")
    for name in ("flax.linen.BatchNorm", "flax.nnx.BatchNorm"):
        assert _impl(adapter, name).supports(case)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["flax.linen.Dropout", "flax.nnx.Dropout"])
def test_dropout_masks_follow_the_case_seed_and_broadcast_dims(adapter: FlaxAdapter,
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
    np.testing.assert_array_equal(first["y_eval"], inputs_for(case)["x"])


@pytest.mark.parametrize("name", ["flax.linen.Dropout", "flax.nnx.Dropout"])
def test_dropout_rate_one_is_all_zeros(adapter: FlaxAdapter, name: str) -> None:
    case = next(c for c in CASES if c.op == "dropout" and c.get("rate") == 1.0)
    assert not _impl(adapter, name, "dropout").run(  # type: ignore[attr-defined]
        case, inputs_for(case))["y_train"].any()


def test_device_cpu_names_the_cpu() -> None:
    a = FlaxAdapter()
    a.device = "cpu"
    a.load()
    assert a.environment()["device"] == "cpu"


def test_cuda_without_a_gpu_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import jax

    if jax.default_backend() == "gpu":
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # load() sets it; restored afterwards
    a = FlaxAdapter()
    a.device = "cuda"
    with pytest.raises(RuntimeError, match=r"^device 'cuda' unavailable: ") as info:
        a.load()
    assert "\n" not in str(info.value)
