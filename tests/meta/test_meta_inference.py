"""Planted conventions: the inference recovers each one or says it cannot tell.

A wrong definite value fails. Known gaps are strict xfails whose reason names
what is missing, so a fix shows up as an unexpected pass to remove.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters.base import Implementation
from conformance.cases import Case, generate, inputs_for
from conformance.compare.analyze import Analysis
from conformance.spec import BEHAVIOUR_BY_NAME, is_allowed

from .harness import Table, mismatches, same_value
from .planted import DropKnobs, Knobs
from .plants import BASELINE, PLANTS, Plant, check_decisive, check_others, check_planted


def _params(attr: str, plants: tuple[Plant, ...] = PLANTS) -> list[object]:
    return [pytest.param(p, id=p.name, marks=[pytest.mark.xfail(strict=True, reason=reason)]
                         if (reason := getattr(p, attr)) else [])
            for p in plants]


@pytest.mark.parametrize("plant", _params("xfail_planted", tuple(p for p in PLANTS
                                                                 if p.planted)))
def test_planted_value_is_recovered_or_inconclusive(plant: Plant, inferred: Table) -> None:
    check_planted(plant, inferred)


@pytest.mark.parametrize("plant", _params("xfail_others"))
def test_other_behaviours_are_not_wrong(plant: Plant, inferred: Table) -> None:
    check_others(plant, inferred)


@pytest.mark.parametrize("plant", _params("xfail_decisive", tuple(p for p in PLANTS
                                                                  if p.decisive)))
def test_what_the_cases_decide_is_decided(plant: Plant, inferred: Table) -> None:
    check_decisive(plant, inferred)


def test_most_planted_values_are_recovered_exactly(inferred: Table) -> None:
    """``inconclusive`` is allowed case by case, not as the answer to everything."""
    values = [(row, b, want, inferred.get(row, {}).get(b))
              for p in PLANTS if not p.xfail_planted
              for row, (planted, _) in p.rows().items() for b, want in planted.items()]
    exact = [v for v in values if v[3] is not None and same_value(v[1], v[3], v[2])]
    missed = "\n".join(f"{r}: {b} planted {w}, inferred {g}" for r, b, w, g in values
                       if (r, b, w, g) not in exact)
    assert len(exact) >= 0.8 * len(values), f"{len(exact)}/{len(values)} exact:\n{missed}"


@pytest.mark.parametrize("plant", _params("xfail_checks", tuple(p for p in PLANTS if p.clean)))
def test_checks_pass_under_the_inferred_conventions(plant: Plant,
                                                    planted_analysis: Analysis) -> None:
    bad = mismatches(planted_analysis, plant.rows())
    assert not bad, f"{len(bad)} MISMATCH, e.g.\n" + "\n".join(bad[:5])


@pytest.mark.parametrize("plant", [pytest.param(p, id=p.name) for p in PLANTS])
def test_expectations_use_the_spec_vocabulary(plant: Plant) -> None:
    """A renamed behaviour or value must fail here, not pass as "not inferred"."""
    for row, (planted, truth) in plant.rows().items():
        for behaviour, value in {**truth, **planted}.items():
            assert is_allowed(behaviour, value), f"{row}: {behaviour}={value} not in spec.py"
            assert BEHAVIOUR_BY_NAME[behaviour].op == plant.op, f"{row}: {behaviour}"
    for name in plant.unknown | plant.decisive:
        assert name in BEHAVIOUR_BY_NAME, f"{plant.name}: {name} not in spec.py"


def test_there_are_enough_plants_across_the_ops() -> None:
    planted = [p for p in PLANTS if p.planted]
    assert len(planted) >= 15
    assert {p.op for p in planted} == set(BASELINE)


def _outcome(impl: Implementation, case: Case) -> dict[str, np.ndarray] | str:
    try:
        return impl.run(case, inputs_for(case))
    except ValueError as exc:  # the baseline refuses a batch of one, as torch does
        return str(exc)


def _differ(a: dict[str, np.ndarray] | str, b: dict[str, np.ndarray] | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a != b
    return set(a) != set(b) or any(not np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.parametrize("plant", [pytest.param(p, id=p.name) for p in PLANTS if p.planted])
def test_every_plant_departs_from_the_baseline(plant: Plant) -> None:
    """A plant that changes nothing would pass without testing anything."""
    for row, (planted, truth) in plant.rows().items():
        assert not set(planted) & set(truth), row
    assert plant.knobs != type(plant.knobs)(), f"{plant.name}: its knobs are the baseline's"
    if isinstance(plant.knobs, DropKnobs) or plant.knobs.recipe:
        return  # random masks differ anyway; a recipe plant changes declarations only
    baseline = Plant("baseline", plant.op, Knobs(), {}).implementation()
    impl = plant.implementation()
    cases = [c for c in generate() if c.op == plant.op]
    assert any(_differ(_outcome(impl, c), _outcome(baseline, c)) for c in cases), \
        f"{plant.name} gives the baseline's outputs on every case"


# Behaviours decided by the shared fit (compare.fit.marginal): a definite value there must
# name the cases that decided it, i.e. the case set separated it from every rival for this
# very row. (Probe behaviours, such as the trigger or the batch of one, read one output.)
FITTED = ("normalize_variance", "epsilon_placement", "gamma_applied", "epsilon_precision",
          "momentum_convention", "momentum_precision", "running_variance_update",
          "inference_statistics", "variance_normalized", "offset_applied", "training_scale",
          "scale_precision", "inference_output")


def test_every_definite_fitted_value_names_its_decisive_cases(
        planted_analysis: Analysis) -> None:
    missing = [(row.implementation, f.behaviour, f.actual) for row in planted_analysis.rows
               for f in row.findings
               if f.behaviour in FITTED and f.actual not in ("inconclusive", "not_measured",
                                                             "not_applicable")
               and not f.evidence]
    assert not missing, missing


def test_narrow_precision_mismatches_are_explained(planted_analysis: Analysis) -> None:
    """The plants whose checks cannot pass (no exact oracle for a narrow accumulator) still
    leave no unexplained mismatch: each one's cause is its precision behaviour."""
    rows = [r for r in planted_analysis.results if r["status"] == "MISMATCH"
            and r["implementation"] in ("planted.float64_statistics_in_float32",
                                        "planted.float16_statistics_in_float16")]
    assert rows
    assert all(r["cause"].startswith("stats_precision_") for r in rows), \
        {r["cause"] for r in rows}
