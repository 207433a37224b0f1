"""runner._summary: what each result record says of its outputs, finite or not."""

from __future__ import annotations

import numpy as np

from conformance.runner import _summary


def test_summary_of_finite_and_non_finite_and_empty_outputs() -> None:
    got = _summary({"a": np.array([[1.5, -2.0]], dtype=np.float32),
                    "b": np.array([1.0, np.nan, np.inf, -np.inf, -3.0]),
                    "c": np.zeros((0, 3)), "d": np.array([np.nan])})
    assert got == {
        "a": {"shape": [1, 2], "dtype": "float32", "nan": 0, "inf": 0, "min": -2.0,
              "max": 1.5},
        "b": {"shape": [5], "dtype": "float64", "nan": 1, "inf": 2, "min": -3.0, "max": 1.0},
        "c": {"shape": [0, 3], "dtype": "float64", "nan": 0, "inf": 0, "min": None,
              "max": None},
        "d": {"shape": [1], "dtype": "float64", "nan": 1, "inf": 0, "min": None, "max": None},
    }
