"""Unexplained mismatches become suspected bugs, shown on their smallest case."""

from __future__ import annotations

from conformance.cases import generate
from conformance.compare.explain import suspected_bugs, unexplained

CASES = {c.id: c for c in generate(["bn_batch"])}


def _row(case_id: str, cause: str, impl: str = "x.BN", check: str = "y_train") -> dict[str, str]:
    return {"framework": "x", "framework_version": "1", "implementation": impl,
            "op": "batchnorm", "case_id": case_id, "check": check, "status": "MISMATCH",
            "cause": cause, "max_abs_err": "0.1", "max_rel_err": "0.2", "tolerance": "t"}


def test_explained_mismatches_are_not_bugs_and_the_smallest_case_is_shown() -> None:
    ids = sorted(CASES, key=lambda i: CASES[i].shape[0])
    small, big = ids[0], ids[-1]
    rows = [_row(big, "unexplained"), _row(small, "unexplained", check="y_eval"),
            _row(small, "running_variance_update", impl="y.BN"),
            {**_row(big, ""), "status": "PASS"}]
    assert len(unexplained(rows)) == 2
    bugs = suspected_bugs(rows, CASES)
    assert [b.implementation for b in bugs] == ["x.BN"]
    assert bugs[0].smallest.id == small
    assert bugs[0].to_row()["checks"] == "y_eval"
    assert bugs[0].mismatches == 2
