"""The PyTorch adapter against the real torch, in the torch nox environment."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from adapter_checks import assert_claims_verified, assert_every_implementation_runs

from conformance.adapters.pytorch import TorchAdapter
from conformance.cases import generate, inputs_for
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("torch")
CASES = generate()


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    a = TorchAdapter()
    a.load()
    return a


def test_every_claim_quote_is_in_the_installed_docstring(adapter: TorchAdapter) -> None:
    assert_claims_verified(adapter, 21)


def test_every_implementation_runs_some_case(adapter: TorchAdapter) -> None:
    assert_every_implementation_runs(adapter, CASES, 2)


@pytest.mark.parametrize("case", [c for c in CASES if c.family in ("bn_momentum", "bn_sequence")
                                  and c.get("momentum") != "none"], ids=lambda c: c.id)
def test_batchnorm_modules_follow_their_documented_conventions(adapter: TorchAdapter,
                                                               case: object) -> None:
    from conformance.cases.model import Case

    assert isinstance(case, Case)
    impl = next(i for i in adapter.implementations() if i.op == "batchnorm"
                and i.name.startswith("torch.nn.BatchNorm") and i.supports(case) is None)
    inputs = inputs_for(case)
    out = impl.run(case, inputs)
    momentum = 0.1 if case.get("momentum") == "default" else float(case.get("momentum"))  # type: ignore[arg-type]
    exp = bn.sequence(inputs["train"], inputs["eval"], 1, inputs["gamma"], inputs["beta"],
                      momentum, 1e-5, bn.Conventions(momentum_convention="weight_on_new"))
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], case.tolerance).passed, key


def test_momentum_none_is_a_cumulative_average(adapter: TorchAdapter) -> None:
    case = next(c for c in CASES if c.family == "bn_momentum" and c.get("momentum") == "none")
    impl = next(i for i in adapter.implementations() if i.name == "torch.nn.BatchNorm2d")
    inputs = inputs_for(case)
    out = impl.run(case, inputs)
    means = [bn.batch_moments(x, 1)[0] for x in inputs["train"]]
    np.testing.assert_allclose(out["running_mean"][-1], np.mean(means, axis=0), rtol=1e-12)


def test_batch_of_one_raises_in_training(adapter: TorchAdapter) -> None:
    case = next(c for c in CASES if c.op == "batchnorm" and c.shape[0] == 1 and len(c.shape) == 2)
    impl = next(i for i in adapter.implementations() if i.name == "torch.nn.BatchNorm1d")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        impl.run(case, inputs_for(case))


def test_dropout_rate_one_is_all_zeros(adapter: TorchAdapter) -> None:
    case = next(c for c in CASES if c.op == "dropout" and c.get("rate") == 1.0)
    impl = next(i for i in adapter.implementations() if i.name == "torch.nn.Dropout")
    assert not impl.run(case, inputs_for(case))["y_train"].any()


def test_device_cpu_places_every_row_on_the_cpu() -> None:
    a = TorchAdapter()
    a.device = "cpu"
    a.load()
    assert {getattr(i, "device", None) for i in a.implementations()} == {"cpu"}
    assert a.environment()["device"] == "cpu"


def test_cuda_on_a_machine_without_one_is_a_one_line_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    a = TorchAdapter()
    a.device = "cuda"
    with pytest.raises(RuntimeError, match=r"^device 'cuda' unavailable: torch \S+ sees no "
                                           r"CUDA device") as info:
        a.load()
    assert "\n" not in str(info.value)
