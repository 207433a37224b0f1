"""The rendered predictor is the oracle: same results, bit for bit, under every convention."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from conformance.compare.fit import grid
from conformance.oracle import batchnorm as bn
from conformance.oracle import predictor

# Every convention field that reaches inference, each over all of its values.
SPACE = {
    "inference_statistics": bn.INFERENCE_STATISTICS,
    "epsilon_placement": bn.EPSILON_PLACEMENTS,
    "normalize_variance": bn.VARIANCE_ESTIMATORS,
    "gamma_applied": (True, False),
    "offset_applied": (True, False),
    "variance_normalized": (True, False),
    "epsilon_floor": (None, 0.5),
    "epsilon_precision": bn.EPSILON_PRECISIONS,
}
CONVENTIONS = [bn.Conventions(**c) for c in grid(SPACE)]


def _case(axis: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    shape = (3, 5, 4) if axis == 1 else (3, 4, 5)
    c = shape[axis]
    return {"train": rng.normal(2.0, 3.0, (2, *shape)), "eval": rng.normal(1.0, 2.0, shape),
            "gamma": rng.uniform(0.5, 2.0, c), "beta": rng.normal(0, 1, c)}


@pytest.mark.parametrize("conv", CONVENTIONS, ids=predictor.conventions_literal)
@pytest.mark.parametrize("axis", [1, -1])
def test_rendered_predictor_equals_the_oracle(conv: bn.Conventions, axis: int) -> None:
    d = _case(axis)
    ax = axis % d["eval"].ndim
    eps = 0.1
    oracle = bn.sequence(d["train"], d["eval"], ax, d["gamma"], d["beta"], 0.1, eps, conv)
    rm, rv = oracle["running_mean"][-1], oracle["running_var"][-1]
    predict = predictor.compile_source(predictor.source(conv, eps, channel_axis=ax))
    y = predict(d["eval"], d["gamma"], d["beta"], rm, rv)
    np.testing.assert_array_equal(y, oracle["y_eval"],
                                  err_msg=f"rendered predictor differs from bn.sequence "
                                          f"under {conv}")
    direct = bn.inference(d["eval"], rm, rv, d["gamma"], d["beta"], eps, conv, ax)
    np.testing.assert_array_equal(direct, oracle["y_eval"])


def test_batch_statistics_honour_the_normalizing_estimator() -> None:
    """The drift the old report copy had: batch statistics always biased."""
    d = _case(1)
    conv = bn.Conventions(inference_statistics="batch", normalize_variance="unbiased")
    y = predictor.compile_source(predictor.source(conv, 1e-3))(
        d["eval"], d["gamma"], d["beta"], None, None)
    biased = bn.inference(d["eval"], None, None, d["gamma"], d["beta"], 1e-3,  # type: ignore[arg-type]
                          conv.with_(normalize_variance="biased"), 1)
    assert not np.allclose(y, biased), "unbiased batch statistics rendered as biased"


def test_source_is_the_oracles_own_text() -> None:
    """The rendered text contains the oracle functions verbatim and only needed ones."""
    import inspect

    running = predictor.source(bn.Conventions(), 1e-5)
    batch = predictor.source(bn.Conventions(inference_statistics="batch"), 1e-5)
    assert inspect.getsource(bn.normalize) in running
    assert inspect.getsource(bn.inference) in running
    assert "def training_output" not in running
    assert inspect.getsource(bn.training_output) in batch
    ast.parse(running)
    assert "CONVENTIONS = Conventions()" in running
    assert "CONVENTIONS = Conventions(inference_statistics='batch')" in batch
