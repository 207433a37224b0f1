"""Alpha dropout and dropout at inference, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.oracle import dropout as do

# SELU (Klambauer et al. 2017): lambda = 1.0507..., alpha = 1.6733...
ALPHA_P = -1.6732632423543772 * 1.0507009873554805


def test_alpha_affine_at_half() -> None:
    a, b, alpha_p = do.alpha_affine(0.5)
    assert alpha_p == pytest.approx(ALPHA_P, rel=1e-15)
    assert a == pytest.approx((0.5 * (1 + 0.5 * ALPHA_P**2)) ** -0.5, rel=1e-15)
    assert b == pytest.approx(-a * ALPHA_P * 0.5, rel=1e-15)
    assert do.alpha_affine(0.0) == (1.0, 0.0, alpha_p)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_alpha_affine_keeps_zero_mean_and_unit_variance(rate: float) -> None:
    # For an input of mean 0 and variance 1, y = a * (x or alpha_p) + b has
    # E[y] = a * rate * alpha_p + b and Var[y] = a^2 * (1 - rate) * (1 + rate * alpha_p^2).
    a, b, alpha_p = do.alpha_affine(rate)
    assert a * rate * alpha_p + b == pytest.approx(0.0, abs=1e-15)
    assert a * a * (1 - rate) * (1 + rate * alpha_p**2) == pytest.approx(1.0, rel=1e-14)


def test_alpha_output_and_mask_read_back() -> None:
    x = np.array([1.0, 1.5, 2.0, 1.25])
    kept = np.array([True, False, True, False])
    a, b, alpha_p = do.alpha_affine(0.5)
    y = do.alpha_training_output(x, kept, 0.5)
    np.testing.assert_allclose(y, [a * 1.0 + b, a * alpha_p + b, a * 2.0 + b, a * alpha_p + b],
                               rtol=1e-15)
    # dropped elements are a * alpha_p * (1 - rate), never 0
    np.testing.assert_allclose(y[~kept], a * ALPHA_P * 0.5, rtol=1e-14)
    np.testing.assert_array_equal(do.alpha_kept(y, x, 0.5), kept)
    with pytest.raises(ValueError, match="undefined"):
        do.alpha_affine(1.0)


def test_dropout_applied_at_inference_uses_the_observed_mask() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    kept = np.array([True, False, False, True])
    np.testing.assert_allclose(
        do.inference_output(x, 0.75, "dropout_applied", kept=kept), [4.0, 0.0, 0.0, 16.0])
    np.testing.assert_allclose(
        do.inference_output(x, 0.75, "dropout_applied", kept=kept, scale="none"),
        [1.0, 0.0, 0.0, 4.0])
    with pytest.raises(ValueError, match="mask"):
        do.inference_output(x, 0.75, "dropout_applied")
    with pytest.raises(ValueError, match="unknown"):
        do.inference_output(x, 0.75, "halved")


def test_scale_in_float32() -> None:
    x, kept = np.array([1.0, 2.0]), np.array([True, True])
    factor32 = float(np.float32(1.0) / (np.float32(1.0) - np.float32(0.3)))
    assert factor32 != 1 / 0.7  # the case this convention exists for
    np.testing.assert_array_equal(
        do.training_output(x, kept, 0.3, "inverse_keep", scale_precision="float32"),
        x * factor32)
    np.testing.assert_array_equal(do.training_output(x, kept, 0.3, "inverse_keep"), x / 0.7)
    with pytest.raises(ValueError, match="precision"):
        do.training_output(x, kept, 0.3, "inverse_keep", scale_precision="float16")


def test_scale_from_a_float32_rate() -> None:
    """ONNX Dropout's ratio is a float32 tensor; the factor is formed from it in float64."""
    x, kept = np.array([1.0, 2.0]), np.array([True, True])
    factor = 1.0 / (1.0 - float(np.float32(0.3)))
    assert factor not in (1 / 0.7, float(np.float32(1.0) / (np.float32(1.0) - np.float32(0.3))))
    np.testing.assert_array_equal(
        do.training_output(x, kept, 0.3, "inverse_keep", scale_precision="float32_rate"),
        x * factor)
