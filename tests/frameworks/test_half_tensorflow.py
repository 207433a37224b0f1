"""Half-precision cases through Keras 3 and TensorFlow ops, in the tensorflow environment.

Keras computes the moments of half inputs in float32 and passes the half-precision
bounds; ``tf.nn.batch_normalization`` on bfloat16 normalizes in bfloat16 (its moments are
within one bfloat16 rounding of float64: the output arithmetic, not the sums, strays), and
the ``bn_half`` cases show it: a half-precision case can fail.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from conformance.adapters.keras3 import BN, KerasAdapter
from conformance.adapters.tfops import NN_BN, RECIPE_DEFAULTS, TensorflowAdapter
from conformance.cases import generate, inputs_for
from conformance.cases.model import HALF_DTYPES, Case
from conformance.cases.tolerances import tolerance_for
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn

pytestmark = pytest.mark.framework("tensorflow")
HALF = [c for c in generate() if c.family == "bn_half" and c.dtype in HALF_DTYPES]
MOMENTS = bn.Conventions(momentum_convention="weight_on_old", running_variance_update="biased")


def _expected(case: Case, momentum: float, eps: float) -> dict[str, np.ndarray]:
    x = inputs_for(case)
    return bn.sequence(x["train"], x["eval"], case.channel_axis, x["gamma"], x["beta"],
                       momentum, eps, MOMENTS)


@pytest.mark.parametrize("case", HALF, ids=lambda c: f"{c.id}-{c.dtype}")
def test_keras_passes_half_precision_bounds(case: Case) -> None:
    adapter = KerasAdapter()
    adapter.load()
    impl = next(i for i in adapter.implementations() if i.name == BN)
    out = impl.run(case, inputs_for(case))
    exp = _expected(case, 0.99, 1e-3)
    for key in ("y_train", "running_mean", "running_var", "y_eval"):
        assert compare(out[key], exp[key], tolerance_for(case, key)).passed, key


def test_bfloat16_normalized_in_bfloat16_fails_the_bounds() -> None:
    adapter = TensorflowAdapter()
    adapter.load()
    impl = next(i for i in adapter.implementations() if i.name == NN_BN)
    case = next(c for c in HALF if c.dtype == "bfloat16")
    out = impl.run(case, inputs_for(case))
    exp = _expected(case, RECIPE_DEFAULTS["decay"], RECIPE_DEFAULTS["variance_epsilon"])
    assert not compare(out["y_train"], exp["y_train"],
                       tolerance_for(case, "y_train")).passed
