"""Batch renormalization against values computed by hand.

Two samples of one channel, 0.8 and 3.2: mean 2, biased variance 1.44; with
eps = 0.25, ``sqrt(var + eps) = 1.3``, so r = 1.3 / renorm_stddev and
d = (2 - renorm_mean) / renorm_stddev are easy to follow on paper.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.oracle import batchnorm as bn
from conformance.oracle import renorm as rn

X = np.array([[0.8], [3.2]])
G, B = np.array([2.0]), np.array([0.5])
EPS = 0.25
CONV = bn.Conventions(running_variance_update="biased")


def _run(params: rn.Renorm, steps: int = 1, evaluate: np.ndarray = X,
         conv: bn.Conventions = CONV, eps: float = EPS) -> dict[str, np.ndarray]:
    return rn.sequence(np.stack([X] * steps), evaluate, 1, G, B, 0.9, eps, conv, params)


def test_unclipped_first_step_normalizes_by_the_renorm_averages() -> None:
    # r = 1.3, d = 2 against renorm_mean 0, renorm_stddev 1:
    # (x_hat * r + d) * gamma + beta = (x - 0) / 1 * 2 + 0.5
    out = _run(rn.Renorm(renorm_momentum=0.5))
    np.testing.assert_allclose(out["y_train"][0, :, 0], [2.1, 6.9], rtol=1e-14)


@pytest.mark.parametrize(("params", "expected"), [
    # r clipped to 0.65: x_hat * r = -+0.6; d clipped to 0.5
    (rn.Renorm(rmax=0.65, dmax=0.5), [(-0.6 + 0.5) * 2 + 0.5, (0.6 + 0.5) * 2 + 0.5]),
    # r raised to 2.6: x_hat * r = -+2.4; d = 2 unclipped
    (rn.Renorm(rmin=2.6), [(-2.4 + 2) * 2 + 0.5, (2.4 + 2) * 2 + 0.5]),
    # r = 1, d = 0: plain batch norm, (x - 2) / 1.3 * 2 + 0.5
    (rn.Renorm(rmin=1.0, rmax=1.0, dmax=0.0), [-1.2 / 1.3 * 2 + 0.5, 1.2 / 1.3 * 2 + 0.5]),
])
def test_clipping(params: rn.Renorm, expected: list[float]) -> None:
    np.testing.assert_allclose(_run(params)["y_train"][0, :, 0], expected, rtol=1e-14)


def test_two_steps_moving_statistics_and_inference() -> None:
    # momentum 0.9 (weight on old), renorm_momentum 0.5
    # step 1: mean 0.2; moving_stddev 0.9 * 1 + 0.1 * 1.3 = 1.03, variance 1.03**2 - 0.25
    #         renorm_mean 1.0, renorm_stddev 1.15
    # step 2: y = (x - 1) / 1.15 * 2 + 0.5; mean 0.38; moving_stddev 1.057
    x_eval = np.array([[0.38 + 1.057], [0.38]])
    out = _run(rn.Renorm(renorm_momentum=0.5), steps=2, evaluate=x_eval)
    np.testing.assert_allclose(out["running_mean"][:, 0], [0.2, 0.38], rtol=1e-14)
    np.testing.assert_allclose(out["running_var"][:, 0], [1.03**2 - 0.25, 1.057**2 - 0.25],
                               rtol=1e-14)
    np.testing.assert_allclose(out["y_train"][1, :, 0],
                               [(0.8 - 1) / 1.15 * 2 + 0.5, (3.2 - 1) / 1.15 * 2 + 0.5],
                               rtol=1e-14)
    # inference: (x - 0.38) / sqrt(moving_var + eps) = (x - 0.38) / 1.057, no correction
    np.testing.assert_allclose(out["y_eval"][:, 0], [2.5, 0.5], rtol=1e-14)


def test_renorm_stddev_floor_and_variance_relu() -> None:
    # A constant batch (variance 0) with eps = 4: stddev = 2, renorm_stddev 1 is floored to
    # sqrt(4) = 2, so r = 1 and d = 3 / 2; moving_stddev 0.9 + 0.1 * 2 = 1.1 and
    # 1.1**2 - 4 < 0 is clipped to 0.
    x = np.array([[3.0], [3.0]])
    out = rn.sequence(x[None], x, 1, np.ones(1), np.zeros(1), 0.9, 4.0, CONV, rn.Renorm())
    np.testing.assert_allclose(out["y_train"][0, :, 0], [1.5, 1.5], rtol=1e-15)
    np.testing.assert_array_equal(out["running_var"][0], [0.0])


@pytest.mark.parametrize("estimator", bn.VARIANCE_ESTIMATORS)
def test_unclipped_output_is_normalization_by_renorm_statistics(estimator: str) -> None:
    # x_hat * r + d = (x - renorm_mean) / renorm_stddev whatever the batch variance.
    rng = np.random.default_rng(0)
    train = rng.normal(size=(3, 5, 2))
    conv = CONV.with_(normalize_variance=estimator)
    out = rn.sequence(train, train[0], 1, np.ones(2), np.zeros(2), 0.9, 1e-3, conv,
                      rn.Renorm(renorm_momentum=0.7))
    renorm_mean, renorm_stddev = np.zeros(2), np.ones(2)
    for step, x in enumerate(train):
        floor = np.maximum(renorm_stddev, np.sqrt(1e-3))
        np.testing.assert_allclose(out["y_train"][step], (x - renorm_mean) / floor, rtol=1e-12)
        mean, var, n = bn.batch_moments(x, 1)
        var = bn.unbias(var, n) if estimator == "unbiased" else var
        renorm_mean = 0.7 * renorm_mean + 0.3 * mean
        renorm_stddev = 0.7 * renorm_stddev + 0.3 * np.sqrt(var + 1e-3)


def test_statistics_never_updated() -> None:
    out = _run(rn.Renorm(), steps=2, conv=CONV.with_(stats_update_trigger="never"))
    np.testing.assert_array_equal(out["running_mean"], [[0.0], [0.0]])
    np.testing.assert_array_equal(out["running_var"], [[1.0], [1.0]])
    # renorm averages stay at 0 and 1: both steps give (x - 0) / 1 * 2 + 0.5
    np.testing.assert_allclose(out["y_train"][1, :, 0], [2.1, 6.9], rtol=1e-14)
