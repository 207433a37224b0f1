"""Change points: values that differ between consecutive releases that ran."""

from __future__ import annotations

from conformance.history.changes import (
    ChangePoint,
    behaviour_rows,
    case_ids,
    change_points,
    tidy,
)
from conformance.history.store import INSTALL_FAILED, OK, Entry

IMPL = "keras.layers.BatchNormalization"


def release(version: str, values: dict[str, str], status: str = OK,
            framework: str = "keras") -> Entry:
    rows = [{"framework": framework, "framework_version": version, "implementation": IMPL,
             "op": "batchnorm", "behaviour": b, "value": v, "evidence": f"bn_x-{version[-1] * 10}"}
            for b, v in values.items()]
    return Entry("keras", version, (f"keras=={version}",), (framework,), "k", status=status,
                 companions={"tensorflow-cpu": "2.16.2"}, behaviours=rows)


def test_a_changed_value_is_one_point_between_consecutive_releases() -> None:
    entries = [release("3.2.0", {"epsilon_default": "0.001", "gamma_applied": "yes"}),
               release("3.10.0", {"epsilon_default": "0.001", "gamma_applied": "no"}),
               release("3.3.0", {"epsilon_default": "0.001", "gamma_applied": "yes"})]
    (point,) = change_points(entries)
    assert (point.before_version, point.after_version, point.behaviour, point.before,
            point.after, point.kind) == ("3.3.0", "3.10.0", "gamma_applied", "yes", "no",
                                         "changed"), "releases are ordered by version"
    assert point.evidence == "after: bn_x-0000000000; before: bn_x-0000000000"
    assert point.row()["package"] == "keras"


def test_numeric_defaults_agree_within_one_percent() -> None:
    entries = [release("3.1.0", {"momentum_default": "0.99"}),
               release("3.2.0", {"momentum_default": "0.9900001"}),
               release("3.3.0", {"momentum_default": "0.9"})]
    assert [(p.before, p.after) for p in change_points(entries)] == [("0.9900001", "0.9")]


def test_failed_releases_are_skipped_and_the_change_spans_them() -> None:
    entries = [release("3.1.0", {"gamma_applied": "yes"}),
               release("3.2.0", {}, status=INSTALL_FAILED),
               release("3.3.0", {"gamma_applied": "no"})]
    (point,) = change_points(entries)
    assert (point.before_version, point.after_version) == ("3.1.0", "3.3.0")


def test_undecided_appeared_and_vanished_are_their_own_kinds() -> None:
    entries = [release("3.1.0", {"gamma_applied": "yes", "epsilon_placement": "inside_sqrt"}),
               release("3.2.0", {"gamma_applied": "inconclusive", "momentum_default": "0.99"}),
               release("3.3.0", {"gamma_applied": "inconclusive", "momentum_default": "0.99"})]
    kinds = {(p.behaviour, p.kind, p.before, p.after) for p in change_points(entries)}
    assert kinds == {("gamma_applied", "undecided", "yes", "inconclusive"),
                     ("epsilon_placement", "vanished", "inside_sqrt", "(absent)"),
                     ("momentum_default", "appeared", "(absent)", "0.99")}


def test_a_release_that_did_not_run_the_framework_is_no_point_of_its_timeline() -> None:
    entries = [release("3.1.0", {"gamma_applied": "yes"}),
               release("3.2.0", {"gamma_applied": "yes"}, framework="tf_keras"),
               release("3.3.0", {"gamma_applied": "yes"})]
    assert change_points(entries) == []


def test_no_change_no_point() -> None:
    assert change_points([release(v, {"gamma_applied": "yes"}) for v in ("3.0.0", "3.1.0")]) == []


def test_tidy_rows_carry_package_version_and_companions() -> None:
    rows = tidy([release("3.1.0", {"gamma_applied": "yes"}),
                 release("3.0.0", {"gamma_applied": "yes"}, status=INSTALL_FAILED)])
    assert rows == [{"package": "keras", "version": "3.1.0",
                     "companions": "tensorflow-cpu==2.16.2", "framework": "keras",
                     "framework_version": "3.1.0", "implementation": IMPL, "op": "batchnorm",
                     "behaviour": "gamma_applied", "value": "yes",
                     "evidence": "bn_x-0000000000"}]


def test_behaviour_rows_keep_the_measured_value_and_its_case_ids() -> None:
    (row,) = behaviour_rows([{"framework": "keras", "framework_version": "3.1.0",
                              "implementation": IMPL, "op": "batchnorm",
                              "behaviour": "gamma_applied", "documented": "yes",
                              "actual": "no", "agrees": "no",
                              "evidence": "bn_gamma-0123456789 bn_seq-abcdefabcd (2 of 3 fit)"}])
    assert row["value"] == "no" and row["evidence"] == "bn_gamma-0123456789 bn_seq-abcdefabcd"
    assert case_ids("x do_rate-00000000ff, do_rate-00000000ff") == ["do_rate-00000000ff"]


def test_a_change_point_row_has_every_column() -> None:
    from conformance.history.changes import CHANGE_COLUMNS

    p = ChangePoint("keras", "keras", IMPL, "gamma_applied", "3.1.0", "3.2.0", "yes", "no",
                    "", "bn_x-1111111111")
    assert tuple(p.row()) == CHANGE_COLUMNS and p.evidence == "after: bn_x-1111111111"
