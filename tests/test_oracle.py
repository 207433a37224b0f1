"""The oracle against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do

X = np.array([[0.0], [4.0]])  # one channel: mean 2, biased var 4, unbiased var 8
ONE, ZERO = np.ones(1), np.zeros(1)


@pytest.mark.parametrize(("placement", "expected"), [
    ("inside_sqrt", 2 / np.sqrt(5)),   # (4-2)/sqrt(4+1)
    ("outside_sqrt", 2 / 3),           # (4-2)/(2+1)
    ("no_sqrt", 2 / 5),                # (4-2)/(4+1)
])
def test_epsilon_placement(placement: str, expected: float) -> None:
    conv = bn.Conventions(epsilon_placement=placement)
    y = bn.training_output(X, 1, 1.0, ONE, ZERO, conv)
    np.testing.assert_allclose(y[:, 0], [-expected, expected], rtol=1e-15)


def test_unbiased_normalization_and_affine() -> None:
    conv = bn.Conventions(normalize_variance="unbiased")
    y = bn.training_output(X, 1, 0.0, np.array([3.0]), np.array([0.5]), conv)
    np.testing.assert_allclose(y[:, 0], [-3 * 2 / np.sqrt(8) + 0.5, 3 * 2 / np.sqrt(8) + 0.5])


def test_gamma_ignored_and_floor() -> None:
    conv = bn.Conventions(gamma_applied=False, epsilon_floor=1.0)
    y = bn.training_output(X, 1, 0.0, np.array([7.0]), ZERO, conv)
    np.testing.assert_allclose(y[:, 0], [-2 / np.sqrt(5), 2 / np.sqrt(5)])


@pytest.mark.parametrize(("convention", "momentum", "mean1", "var1"), [
    ("weight_on_new", 0.1, 0.2, 0.9 * 1 + 0.1 * 8),
    ("weight_on_old", 0.9, 0.2, 0.9 * 1 + 0.1 * 8),
    ("weight_on_old", 0.1, 1.8, 0.1 * 1 + 0.9 * 8),
    ("cumulative_average", None, 2.0, 8.0),
])
def test_running_update(convention: str, momentum: float | None, mean1: float,
                        var1: float) -> None:
    conv = bn.Conventions(momentum_convention=convention)
    out = bn.sequence(X[None], X, 1, ONE, ZERO, momentum, 0.0, conv)
    np.testing.assert_allclose(out["running_mean"][0], [mean1])
    np.testing.assert_allclose(out["running_var"][0], [var1])


def test_cumulative_average_is_the_mean_of_batches() -> None:
    batches = np.stack([X, X + 2.0, X + 4.0])  # means 2, 4, 6
    out = bn.sequence(batches, X, 1, ONE, ZERO, None, 0.0,
                      bn.Conventions(momentum_convention="cumulative_average"))
    np.testing.assert_allclose(out["running_mean"][:, 0], [2.0, 3.0, 4.0])


def test_never_updated_and_biased_running_variance() -> None:
    out = bn.sequence(X[None], X, 1, ONE, ZERO, 0.5, 0.0,
                      bn.Conventions(stats_update_trigger="never"))
    np.testing.assert_allclose(out["running_mean"][0], [0.0])
    np.testing.assert_allclose(out["running_var"][0], [1.0])
    out = bn.sequence(X[None], X, 1, ONE, ZERO, 0.5, 0.0,
                      bn.Conventions(running_variance_update="biased"))
    np.testing.assert_allclose(out["running_var"][0], [0.5 * 1 + 0.5 * 4])


def test_inference_uses_running_or_batch_statistics() -> None:
    conv = bn.Conventions(momentum_convention="weight_on_new")
    out = bn.sequence(X[None], X, 1, ONE, ZERO, 1.0, 0.0, conv)  # running = batch (unbiased)
    np.testing.assert_allclose(out["y_eval"][:, 0], [-2 / np.sqrt(8), 2 / np.sqrt(8)])
    out = bn.sequence(X[None], X, 1, ONE, ZERO, 1.0, 0.0,
                      conv.with_(inference_statistics="batch"))
    np.testing.assert_allclose(out["y_eval"][:, 0], [-1.0, 1.0])


def test_mean_only_centering() -> None:
    conv = bn.Conventions(variance_normalized=False, gamma_applied=False)
    y = bn.training_output(X, 1, 1e-3, np.array([5.0]), np.array([1.0]), conv)
    np.testing.assert_allclose(y[:, 0], [-1.0, 3.0])


def test_channel_axis_last_reduces_over_the_rest() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    mean, var, n = bn.batch_moments(x, 2)
    assert n == 6
    np.testing.assert_allclose(mean, x.reshape(6, 4).mean(0))
    np.testing.assert_allclose(var, x.reshape(6, 4).var(0))


def test_dropout_scaling_and_inference() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    kept = np.array([True, False, True, False])
    np.testing.assert_allclose(do.training_output(x, kept, 0.75, "inverse_keep"),
                               [4.0, 0.0, 12.0, 0.0])
    np.testing.assert_allclose(do.training_output(x, kept, 0.25, "inverse_keep",
                                                  "keep_probability"), [4.0, 0.0, 12.0, 0.0])
    np.testing.assert_allclose(do.training_output(x, kept, 0.75, "none"), [1.0, 0, 3.0, 0])
    np.testing.assert_allclose(do.inference_output(x, 0.75, "scaled_by_keep"), x * 0.25)


def test_binomial_test_and_mask_broadcast() -> None:
    assert do.binomial_two_sided_p(500, 1000, 0.5) > 0.9
    assert do.binomial_two_sided_p(600, 1000, 0.5) < 1e-9
    assert do.binomial_two_sided_p(0, 10, 0.0) == 1.0
    kept = np.array([[True, False], [True, False]])
    assert do.mask_is_broadcast(kept, (1, 2))
    assert not do.mask_is_broadcast(kept, (2, 1))


def test_vectorized_helpers_match_the_one_at_a_time_functions() -> None:
    """The fast paths inference uses must give exactly what the plain oracle gives."""
    from conformance.cases.model import Tolerance
    from conformance.compare.errors import compare, ratios

    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, (6, 4, 5))
    gamma, beta = rng.uniform(0.5, 2, 4), rng.uniform(-1, 1, 4)
    variants = [(eps, bn.Conventions(epsilon_placement=p, normalize_variance=v,
                                     gamma_applied=g, epsilon_floor=f))
                for eps in (0.0, 1e-3) for p in bn.EPSILON_PLACEMENTS
                for v in bn.VARIANCE_ESTIMATORS for g in (True, False) for f in (None, 1e-5)]
    stacked = bn.training_outputs(x, 1, variants, gamma, beta)
    for k, (eps, conv) in enumerate(variants):
        np.testing.assert_array_equal(stacked[k], bn.training_output(x, 1, eps, gamma, beta, conv))
    tol = Tolerance(1e-6, 1e-6)
    measured = stacked[3] + 1e-7
    assert ratios(measured, stacked, tol) == [compare(measured, s, tol).ratio for s in stacked]
    train = rng.normal(0, 1, (3, 6, 4))
    for conv in (bn.Conventions(), bn.Conventions(momentum_convention="weight_on_new",
                                                  running_variance_update="biased")):
        rm, rv = bn.running_statistics(train, 1, 0.3, conv)
        full = bn.sequence(train, train[0], 1, gamma, beta, 0.3, 1e-5, conv)
        np.testing.assert_array_equal(rm, full["running_mean"])
        np.testing.assert_array_equal(rv, full["running_var"])
