"""Half-precision cases (float16, bfloat16) through PyTorch, in the torch nox environment.

torch accumulates batch statistics of half inputs in float32 and rounds once: a sound
implementation, so it must pass the half-precision bounds (float32 accumulation plus
output rounding); bfloat16 inputs arrive as float32 arrays and the adapter casts them.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from conformance.adapters.pytorch import TorchAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import HALF_DTYPES, Case
from conformance.cases.tolerances import tolerance_for
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("torch")
HALF = [c for c in generate() if c.op == "batchnorm" and c.dtype in HALF_DTYPES
        and c.channel_axis == 1]
TORCH = bn.Conventions(momentum_convention="weight_on_new")


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    a = TorchAdapter()
    a.load()
    return a


@pytest.mark.parametrize("case", HALF, ids=lambda c: f"{c.id}-{c.dtype}")
def test_half_precision_cases_pass_their_bounds(adapter: TorchAdapter, case: Case) -> None:
    if case.dtype == "bfloat16":  # drawing bfloat16 inputs needs it; running them does not
        pytest.importorskip("ml_dtypes")
    inputs = inputs_for(case)
    exp = bn.sequence(inputs["train"], inputs["eval"], 1, inputs["gamma"], inputs["beta"],
                      0.1, 1e-5, TORCH)
    ran = 0
    for impl in adapter.implementations():
        if impl.op != "batchnorm" or impl.supports(case) is not None:
            continue
        out = impl.run(case, inputs)
        for key in ("y_train", "running_mean", "running_var", "y_eval"):
            assert compare(out[key], exp[key], tolerance_for(case, key)).passed, \
                (impl.name, key)
        ran += 1
    assert ran
