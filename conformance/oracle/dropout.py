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


def training_output(x: np.ndarray, kept: np.ndarray, rate: float, scale: str,
                    semantics: str = "drop_probability") -> np.ndarray:
    """Expected training output given the kept-element mask."""
    x = np.asarray(x, dtype=np.float64)
    p = drop_probability(rate, semantics)
    factor = 1.0
    if scale == "inverse_keep":
        factor = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    return np.where(kept, x * factor, 0.0)


def inference_output(x: np.ndarray, rate: float, convention: str,
                     semantics: str = "drop_probability") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if convention == "identity":
        return x
    return x * (1.0 - drop_probability(rate, semantics))


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
