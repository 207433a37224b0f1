"""Ghost (virtual) batch norm against values computed by hand.

Four samples of one channel, 0, 10, 2, 14, in virtual batches of two:
strided (tf_keras) pairs {0, 2} and {10, 14} (means 1 and 12, variances 1 and 4);
contiguous pairs {0, 10} and {2, 14} (means 5 and 8, variances 25 and 36).
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.oracle import batchnorm as bn
from conformance.oracle import ghost

X = np.array([[0.0], [10.0], [2.0], [14.0]])
ONE, ZERO = np.ones(1), np.zeros(1)


def test_groups() -> None:
    assert [list(g) for g in ghost.groups(6, 2, "strided")] == [[0, 3], [1, 4], [2, 5]]
    assert [list(g) for g in ghost.groups(6, 2, "contiguous")] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="must divide"):
        ghost.groups(6, 4, "strided")


@pytest.mark.parametrize(("grouping", "expected"), [
    ("strided", [-1.0, -1.0, 1.0, 1.0]),
    ("contiguous", [-1.0, 1.0, -1.0, 1.0]),
])
def test_each_virtual_batch_is_normalized_alone(grouping: str, expected: list[float]) -> None:
    y = ghost.training_output(X, 1, 2, 0.0, ONE, ZERO, bn.Conventions(), grouping)
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-15)


@pytest.mark.parametrize(("update", "var1"), [
    ("biased", 0.9 * 1 + 0.1 * (1 + 4) / 2),      # mean of the virtual batches' variances
    ("unbiased", 0.9 * 1 + 0.1 * (2 + 8) / 2),    # each unbiased over its 2 samples
    ("not_updated", 1.0),
])
def test_running_update_averages_the_virtual_batches(update: str, var1: float) -> None:
    conv = bn.Conventions(running_variance_update=update)
    out = ghost.sequence(X[None], X, 1, ONE, ZERO, 0.9, 0.0, conv, 2)
    np.testing.assert_allclose(out["running_mean"][0], [0.1 * 6.5], rtol=1e-15)
    np.testing.assert_allclose(out["running_var"][0], [var1], rtol=1e-15)
    # inference: plain normalization with the running statistics
    np.testing.assert_allclose(out["y_eval"][:, 0], (X[:, 0] - 0.65) / np.sqrt(var1),
                               rtol=1e-14)


def test_spatial_axes_are_reduced_within_each_virtual_batch() -> None:
    # (N=2, C=1, L=2), virtual batches of one sample: each sample over its two positions.
    x = np.array([[[0.0, 2.0]], [[10.0, 14.0]]])
    y = ghost.training_output(x, 1, 1, 0.0, ONE, ZERO, bn.Conventions(), "strided")
    np.testing.assert_allclose(y, [[[-1.0, 1.0]], [[-1.0, 1.0]]], rtol=1e-15)


def test_batch_statistics_at_inference_and_channel_axis_zero() -> None:
    conv = bn.Conventions(inference_statistics="batch")
    out = ghost.sequence(X[None], X, 1, ONE, ZERO, 0.9, 0.0, conv, 2)
    np.testing.assert_allclose(out["y_eval"][:, 0], [-1.0, -1.0, 1.0, 1.0], rtol=1e-15)
    with pytest.raises(ValueError, match="channel axis"):
        ghost.training_output(X, 0, 2, 0.0, ONE, ZERO, bn.Conventions(), "strided")


@pytest.mark.parametrize(("shape", "channel_axis", "vbs"), [
    ((8, 3), 1, 2), ((12, 3, 4, 4), 1, 4), ((8, 4, 4, 3), 3, 2), ((6, 2, 3, 2, 2), 1, 3),
])
@pytest.mark.parametrize("grouping", ghost.GROUPINGS)
def test_all_virtual_batches_at_once_equal_one_at_a_time_bit_for_bit(
        shape: tuple[int, ...], channel_axis: int, vbs: int, grouping: str) -> None:
    """The stacked computation (one reduction over every virtual batch) gives the same bits
    as normalizing each virtual batch alone with ``bn.training_outputs``."""
    rng = np.random.default_rng(sum(shape))
    x = 3.0 + rng.standard_normal(shape) * 1e-3
    c = shape[channel_axis]
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    variants = [(1e-3, bn.Conventions()), (1e-5, bn.Conventions(normalize_variance="unbiased")),
                (0.1, bn.Conventions(epsilon_placement="outside_sqrt", gamma_applied=False))]
    got = ghost.training_outputs(x, channel_axis, vbs, variants, gamma, beta, grouping)
    want = np.empty((len(variants), *shape))
    for idx in ghost.groups(shape[0], vbs, grouping):
        want[:, idx] = bn.training_outputs(x[idx], channel_axis, variants, gamma, beta)
    assert np.array_equal(got, want)
    mean, var = ghost.step_statistics(x, channel_axis, vbs, bn.Conventions(), grouping)
    one = [bn.batch_moments(x[idx], channel_axis) for idx in ghost.groups(shape[0], vbs,
                                                                          grouping)]
    assert np.array_equal(mean, np.mean([m for m, _, _ in one], axis=0))
    assert np.array_equal(var, np.mean([bn.unbias(v, n) for _, v, n in one], axis=0))
