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
