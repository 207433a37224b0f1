"""The meta-test harness itself can fail: mislabelled expectations are caught."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.compare.analyze import Analysis

from .harness import Table, mismatches, same_value, wrong_others, wrong_planted
from .plants import PLANTS, check_others, check_planted

BY_NAME = {p.name: p for p in PLANTS}


def test_a_mislabelled_planted_value_is_caught(inferred: Table) -> None:
    wrong = replace(BY_NAME["epsilon_outside_sqrt"], planted={"epsilon_placement": "no_sqrt"})
    with pytest.raises(AssertionError, match="inferred outside_sqrt, planted no_sqrt"):
        check_planted(wrong, inferred)


def test_a_mislabelled_truth_is_caught(inferred: Table) -> None:
    wrong = replace(BY_NAME["gamma_ignored"], consequences={"inference_statistics": "batch"})
    with pytest.raises(AssertionError, match="inferred running, truth batch"):
        check_others(wrong, inferred)


def test_a_plant_that_never_ran_is_caught(inferred: Table) -> None:
    ghost = replace(BY_NAME["gamma_ignored"], name="not_in_the_run")
    with pytest.raises(AssertionError, match="not inferred"):
        check_planted(ghost, inferred)
    with pytest.raises(AssertionError, match="no findings"):
        check_others(ghost, inferred)


def test_a_plant_the_oracle_flags_has_mismatches(planted_analysis: Analysis) -> None:
    """The clean-checks test can fail: a biased generator's rows carry MISMATCH checks."""
    assert mismatches(planted_analysis, BY_NAME["biased_generator"].rows())


def test_inconclusive_is_accepted_but_not_measured_is_not() -> None:
    planted = {"epsilon_placement": "no_sqrt"}
    assert wrong_planted({"epsilon_placement": "inconclusive"}, planted) == []
    assert wrong_planted({"epsilon_placement": "not_measured"}, planted)
    assert wrong_planted({}, planted)
    assert wrong_others({"epsilon_placement": "not_measured"}, planted) == []
    assert wrong_others({"epsilon_placement": "inside_sqrt"}, planted)


@pytest.mark.parametrize(("behaviour", "found", "expected", "same"), [
    ("momentum_default", "0.0301", "0.03", True),
    ("momentum_default", "0.031", "0.03", False),
    ("epsilon_effective", "clamped_to:3.001e-05", "clamped_to:3e-05", True),
    ("epsilon_effective", "clamped_to:1.001e-05", "clamped_to:3e-05", False),
    ("epsilon_effective", "as_given", "clamped_to:3e-05", False),
    ("momentum_default", "none", "0.1", False),
    ("gamma_applied", "yes", "no", False),
])
def test_numbers_compare_within_one_percent(behaviour: str, found: str, expected: str,
                                            same: bool) -> None:
    assert same_value(behaviour, found, expected) is same
