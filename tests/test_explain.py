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


def test_framework_errors_group_by_message_and_skip_named_ones() -> None:
    from conformance.compare.explain import framework_errors

    ids = sorted(CASES)

    def err(case_id: str, detail: str) -> dict[str, str]:
        return {**_row(case_id, ""), "status": "ERROR", "check": "run", "detail": detail}

    rows = [err(ids[0], "InvalidArgumentError: layer 'bn_12' got float64"),
            err(ids[1], "InvalidArgumentError: layer 'bn_13' got float64"),
            err(ids[2], "ValueError: Expected more than 1 value per channel")]
    named = {("x", "x.BN"): {ids[2]}}
    errors = framework_errors(rows, CASES, named)
    assert len(errors) == 1  # one message (layer names blanked), the named one left out
    assert errors[0].cases == (ids[0], ids[1])
