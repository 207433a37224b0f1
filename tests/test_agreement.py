"""The agrees column: one rule set for the CSV table, the HTML matrix and the gate."""

from __future__ import annotations

import pytest

from conformance.compare.agreement import agreement, doc_agreement, same_value
from conformance.compare.analyze import RowReport, discrepancy_rows
from conformance.compare.fit import Finding
from conformance.spec import AGREEMENT, BEHAVIOUR_BY_NAME, UNDECIDED


@pytest.mark.parametrize(("documented", "actual", "kw", "expected"), [
    ("biased", "biased", {}, "yes"),
    ("biased", "unbiased", {}, "no"),
    (None, "biased", {}, "undocumented"),
    ("", "biased", {}, "undocumented"),
    ("biased", "inconclusive", {}, "untested"),
    ("biased", "not_measured", {}, "untested"),
    # A quote gone from the installed docstring no longer decides yes or no.
    ("biased", "biased", {"verified": False}, "unverified"),
    ("biased", "unbiased", {"verified": False}, "unverified"),
    ("biased", "inconclusive", {"verified": False}, "unverified"),
    # A web-only source (verified None) is still trusted.
    ("biased", "unbiased", {"verified": None}, "no"),
    # The suite's own code says nothing about the framework, documented or not.
    ("biased", "not_applicable", {}, "not_applicable"),
    (None, "not_applicable", {}, "not_applicable"),
    ("biased", "not_applicable", {"verified": False}, "not_applicable"),
    # A deliberate-misuse row: the scenario explains a difference, not the docs.
    ("forward", "never", {"demonstration": "skips UPDATE_OPS"}, "demonstration"),
    ("forward", "forward", {"demonstration": "skips UPDATE_OPS"}, "yes"),
    (None, "never", {"demonstration": "skips UPDATE_OPS"}, "undocumented"),
])
def test_rules(documented: str | None, actual: str, kw: dict[str, object],
               expected: str) -> None:
    behaviour = "stats_update_trigger" if "demonstration" in kw else "normalize_variance"
    assert agreement(behaviour, documented, actual, **kw) == expected  # type: ignore[arg-type]
    assert expected in AGREEMENT


def test_numeric_defaults_agree_within_one_percent() -> None:
    assert agreement("momentum_default", "0.1", "0.1004") == "yes"
    assert agreement("momentum_default", "0.1", "0.9") == "no"
    assert agreement("epsilon_default", "1e-05", "0.001") == "no"
    assert same_value("momentum_default", "0.1", "0.1004")
    assert not same_value("rate_one", "zeros", "nan")
    assert not same_value("momentum_default", "0.1", "text")


def test_every_outcome_is_in_the_vocabulary() -> None:
    seen = set()
    for b in BEHAVIOUR_BY_NAME.values():
        values = [*(b.values or ("0.1", "0.2")), *UNDECIDED]
        for doc in (None, values[0]):
            for actual in values:
                for verified in (True, False, None):
                    for demo in ("", "scenario"):
                        seen.add(agreement(b.name, doc, actual, verified=verified,
                                           demonstration=demo))
    assert seen == set(AGREEMENT)


def test_doc_agreement_reads_the_claim_record() -> None:
    claim = {"value": "biased", "verified": False, "source": "x", "quote": "q"}
    assert doc_agreement("normalize_variance", claim, "biased") == "unverified"
    assert doc_agreement("normalize_variance", {**claim, "verified": True}, "biased") == "yes"
    assert doc_agreement("normalize_variance", None, "biased") == "undocumented"


def test_discrepancy_table_marks_a_stale_quote_unverified() -> None:
    row = RowReport("torch", "2.13.0", "torch.nn.BatchNorm2d", "batchnorm",
                    documented={"normalize_variance": {"value": "biased", "verified": False},
                                "epsilon_placement": {"value": "inside_sqrt",
                                                      "verified": True}},
                    findings=[Finding("normalize_variance", "unbiased", ["c1"]),
                              Finding("epsilon_placement", "inside_sqrt", ["c2"])])
    agrees = {r["behaviour"]: r["agrees"] for r in discrepancy_rows([row])}
    assert agrees == {"normalize_variance": "unverified", "epsilon_placement": "yes"}
