"""Dropout in float64, conditional on the observed mask.

The suite never tries to reproduce a framework's random stream: the mask is
read off the framework's output (an element is kept when its output is not 0;
inputs are drawn from [1, 2) so a kept element is never 0), and the oracle
says what the kept values must be under each scaling convention.
"""

from __future__ import annotations

import math

import numpy as np

TRAINING_SCALES = ("inverse_keep", "none")
INFERENCE_OUTPUTS = ("identity", "scaled_by_keep")
RATE_SEMANTICS = ("drop_probability", "keep_probability")


def drop_probability(rate: float, semantics: str) -> float:
    return rate if semantics == "drop_probability" else 1.0 - rate


# "float32_rate": the rate arrives as a float32 tensor (ONNX Dropout's ``ratio`` input) and
# the factor is formed from it in the data's precision: 1 / (1 - float32(p)).
SCALE_PRECISIONS = ("as_given", "float32", "float32_rate")


def training_output(x: np.ndarray, kept: np.ndarray, rate: float, scale: str,
                    semantics: str = "drop_probability",
                    scale_precision: str = "as_given") -> np.ndarray:
    """Expected training output given the kept-element mask.

    ``scale_precision="float32"``: the factor ``1 / (1 - p)`` is computed in float32
    whatever the data's dtype (MXNet 1.9.1 on float64 data matches this exactly).
    """
    if scale_precision not in SCALE_PRECISIONS:
        raise ValueError(f"unknown scale precision {scale_precision!r}")
    x = np.asarray(x, dtype=np.float64)
    p = drop_probability(rate, semantics)
    factor = 1.0
    if scale == "inverse_keep":
        factor = 1.0 / (1.0 - p) if p < 1.0 else 0.0
        if scale_precision == "float32" and p < 1.0:
            one = np.float32(1.0)
            factor = float(one / (one - np.float32(p)))
        elif scale_precision == "float32_rate" and p < 1.0:
            factor = 1.0 / (1.0 - float(np.float32(p)))
    return np.where(kept, x * factor, 0.0)


def inference_output(x: np.ndarray, rate: float, convention: str,
                     semantics: str = "drop_probability", kept: np.ndarray | None = None,
                     scale: str = "inverse_keep", scale_precision: str = "as_given"
                     ) -> np.ndarray:
    """Expected inference output; ``dropout_applied`` (MXNet's ``mode='always'``) is a
    training output, conditional on the mask ``kept`` read off the inference output."""
    x = np.asarray(x, dtype=np.float64)
    if convention == "identity":
        return x
    if convention == "scaled_by_keep":
        return x * (1.0 - drop_probability(rate, semantics))
    if convention == "dropout_applied":
        if kept is None:
            raise ValueError("dropout_applied needs the mask observed at inference")
        return training_output(x, kept, rate, scale, semantics, scale_precision)
    raise ValueError(f"unknown inference convention {convention!r}")


# SELU's constants as tf_keras writes them (tf_keras/src/layers/regularization/
# alpha_dropout.py:73-74); alpha_p = -alpha * scale is SELU's negative saturation (line 75).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def alpha_affine(rate: float) -> tuple[float, float, float]:
    """(a, b, alpha_p) of alpha dropout at drop probability ``rate`` (alpha_dropout.py:75,
    83-84): the affine map that restores zero mean and unit variance after dropped
    elements are set to alpha_p (Klambauer et al. 2017). Defined for 0 <= rate < 1."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"alpha dropout's correction is undefined at rate {rate}")
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p**2)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


def alpha_training_output(x: np.ndarray, kept: np.ndarray, rate: float) -> np.ndarray:
    """``a * (x if kept else alpha_p) + b`` (alpha_dropout.py:87-90): dropped elements
    are not 0 but ``a * alpha_p + b``."""
    a, b, alpha_p = alpha_affine(rate)
    return np.asarray(a * np.where(kept, np.asarray(x, dtype=np.float64), alpha_p) + b)


def alpha_kept(y: np.ndarray, x: np.ndarray, rate: float) -> np.ndarray:
    """The mask read off an alpha-dropout output: an element is kept when it is nearer
    its kept value ``a * x + b`` than the dropped value ``a * alpha_p + b`` (the two
    differ by ``a * |x - alpha_p|``, far above rounding for the suite's inputs)."""
    a, b, alpha_p = alpha_affine(rate)
    y = np.asarray(y, dtype=np.float64)
    kept_value = a * np.asarray(x, dtype=np.float64) + b
    return np.asarray(np.abs(y - kept_value) <= np.abs(y - (a * alpha_p + b)))


def mask_is_broadcast(kept: np.ndarray, noise_shape: tuple[int, ...]) -> bool:
    """Whether the mask is constant along every axis where ``noise_shape`` is 1."""
    for axis, size in enumerate(noise_shape):
        if size == 1 and kept.shape[axis] > 1:
            first = np.take(kept, [0], axis=axis)
            if not np.array_equal(np.broadcast_to(first, kept.shape), kept):
                return False
    return True


def binomial_two_sided_p(dropped: int, trials: int, p: float) -> float:
    """Two-sided p-value of ``dropped`` drops in ``trials`` under drop probability ``p``.

    Normal approximation with continuity correction; exact at the degenerate ends.
    Used for ``drop_fraction``: a framework whose masks drop a fraction
    inconsistent with its rate at the stated confidence is reported, without ever
    matching its random seed.
    """
    if trials == 0:
        return 1.0
    if p <= 0.0:
        return 1.0 if dropped == 0 else 0.0
    if p >= 1.0:
        return 1.0 if dropped == trials else 0.0
    mean = trials * p
    sd = math.sqrt(trials * p * (1 - p))
    z = max(0.0, abs(dropped - mean) - 0.5) / sd
    return math.erfc(z / math.sqrt(2))
