"""compare(), ratio() and ratios() with per-channel bounds that broadcast against the arrays."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.cases.model import Tolerance
from conformance.compare import errors
from conformance.compare.errors import bounds, compare, ratios


def _per_channel(values: list[float], shape: list[int]) -> Tolerance:
    a = np.asarray(values).reshape(shape)
    return Tolerance(np.zeros_like(a), a)


def test_each_channel_is_judged_by_its_own_bound() -> None:
    e = np.zeros((4, 2))
    tol = _per_channel([1e-6, 1e-2], [1, 2])
    a = e.copy()
    a[:, 1] = 5e-3
    assert compare(a, e, tol).passed
    a[:, 0] = 5e-3  # the same error in the tight channel fails
    assert compare(a, e, tol).ratio == 5e-3 / 1e-6


def test_bounds_with_a_leading_steps_axis_fit_one_step_and_stacks() -> None:
    tol = _per_channel([1e-6, 1e-2], [1, 1, 2])  # y_train layout: (steps, batch, C)
    _, atol = bounds(tol, (4, 2))
    assert np.shape(atol) == (1, 2)
    a, e = np.zeros((4, 2)), np.zeros((3, 4, 2))
    e[1, :, 1] = 1.0
    assert ratios(a, e, tol) == [0.0, 100.0, 0.0]


def test_a_bound_that_does_not_fit_falls_back_to_its_worst_value() -> None:
    tol = _per_channel([1e-6, 1e-2, 1e-3], [3])
    assert bounds(tol, (4, 2)) == (0.0, 1e-2)
    assert compare(np.full((4, 2), 5e-3), np.zeros((4, 2)), tol).passed


def test_scalar_bounds_behave_as_before() -> None:
    tol = Tolerance(1e-3, 1e-6)
    c = compare(np.array([1.0005]), np.array([1.0]), tol)
    assert c.passed and c.max_abs == np.float64(1.0005) - 1.0
    assert ratios(np.array([1.0]), np.array([[1.0], [np.nan]]), tol)[1] == np.inf


@pytest.mark.parametrize("expected", [
    np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1e-9]]),
    np.array([[1.0, np.nan, 3.0], [0.5, np.inf, -1.0]]),
    np.array([[1.0, -2.0, 3.0]]),  # another shape
    np.zeros((0, 3)),
])
def test_ratio_alone_equals_compare_ratio(expected: np.ndarray) -> None:
    actual = np.array([[1.0 + 1e-7, np.nan, 3.0], [0.5, np.inf, -1.0 - 2e-6]])
    actual = actual if expected.size else np.zeros((0, 3))
    tol = Tolerance(rtol=np.array([1e-6, 1e-5, 1e-4]), atol=1e-7)
    assert errors.ratio(actual, expected, tol) == errors.compare(actual, expected, tol).ratio
    finite = np.nan_to_num(actual, nan=1.0, posinf=2.0)
    assert errors.ratio(finite, expected, tol) == errors.compare(finite, expected, tol).ratio
