"""Grades of a port: exact, float32 (ulps), approximate, fails, and which is worst."""

from __future__ import annotations

import numpy as np

from conformance.cases.model import Tolerance
from conformance.port.grade import APPROXIMATE_REL, FLOAT32_ULPS, Grade, float32_ulps, grade, worst

TOL = Tolerance(rtol=1e-7, atol=1e-7)
Y = np.linspace(-2.0, 2.0, 12).astype(np.float32)


def test_within_the_case_tolerance_is_exact() -> None:
    g = grade(Y + 5e-8, Y, TOL, "c1", "y_eval")
    assert g.grade == "exact" and g.describe() == "exact within the case tolerance"


def test_a_few_float32_ulps_beyond_the_tolerance_say_how_many() -> None:
    ulp = float(np.spacing(np.float32(2.0)))
    g = grade(Y + 10 * ulp, Y, TOL, "c1", "y_eval")
    assert g.grade == "float32" and round(g.ulps) == 10, g
    assert "10 ulps" in g.describe() and "y_eval of c1" in g.describe()


def test_a_percent_is_approximate_and_names_the_case() -> None:
    g = grade(Y * 1.01, Y, TOL, "c2", "running_var")
    assert g.grade == "approximate" and abs(g.max_rel - 0.01) < 1e-6, g
    assert "running_var of c2" in g.describe()


def test_beyond_the_approximate_bound_nan_or_shape_fails() -> None:
    assert grade(Y * (1 + 2 * APPROXIMATE_REL), Y, TOL).grade == "fails"
    assert grade(np.full_like(Y, np.nan), Y, TOL).grade == "fails"
    assert grade(Y[:3], Y, TOL).grade == "fails"


def test_worst_picks_the_lowest_grade_then_the_largest_error() -> None:
    a, b = Grade("float32", ulps=3), Grade("float32", ulps=FLOAT32_ULPS)
    c = Grade("approximate", max_rel=0.001)
    assert worst([a, b]) is b and worst([a, c, b]) is c and worst([]) is None


def test_ulps_are_counted_at_the_output_scale() -> None:
    e = np.array([1e-6, 1.0], dtype=np.float32)
    a = e + np.array([float(np.spacing(np.float32(1.0))), 0.0], dtype=np.float32)
    assert float32_ulps(a, e) == 1.0
