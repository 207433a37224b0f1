"""Whose behaviour a finding is: the framework's, the suite's own code, or a staged misuse.

Adapters declare it per case (``Implementation.recipe_behaviours``,
``demonstration`` and ``mask_shape``) and the runner writes the declarations
into each ok result record as ``recipe``, ``demonstration`` and ``mask_shape``.
These pure functions read them back. A behaviour whose observed value the
suite's own recipe or stand-in code produced is replaced by a ``not_applicable``
finding *after* the row's checks have used the measured value (the checks test
the recipe's numerics; only the report must not credit them to the framework).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conformance.adapters.base import RECIPE_PREFIX
from conformance.cases.model import Case
from conformance.compare.fit import Finding
from conformance.compare.infer_dropout import MaskShape, default_mask_shape
from conformance.environments import ADAPTERS
from conformance.spec import NOT_APPLICABLE


def _ok(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("status") == "ok"]


def recipe_of(records: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Behaviours any ok record of the row declares as coming from the suite's code."""
    return frozenset(b for r in _ok(records) for b in r.get("recipe", ()))


def demonstration_of(records: Iterable[Mapping[str, Any]]) -> str:
    """The row's deliberate-misuse scenario ("" for an ordinary row)."""
    scenarios = sorted({str(r["demonstration"]) for r in _ok(records)
                        if r.get("demonstration")})
    return " / ".join(scenarios)


def is_recipe_row(implementation: str) -> bool:
    """A row for code the suite ships (``recipe:<framework>.<Class>``)."""
    return implementation.startswith(RECIPE_PREFIX)


def mask_shape_of(record: Mapping[str, Any], case: Case) -> MaskShape:
    """The declared mask shape of one result; the default when the record has none."""
    if "mask_shape" not in record:
        return default_mask_shape(case)
    shape = record["mask_shape"]
    return None if shape is None else tuple(int(n) for n in shape)


def declared_mask_shapes(records: Iterable[Mapping[str, Any]],
                         cases: Mapping[str, Case]) -> dict[str, MaskShape]:
    """Declared mask shape by case id, for the ok dropout results of a row."""
    return {r["case_id"]: mask_shape_of(r, cases[r["case_id"]]) for r in _ok(records)
            if r["case_id"] in cases and cases[r["case_id"]].op == "dropout"}


def recipe_note(framework: str, implementation: str, measured: str) -> str:
    """Which suite code produced a value, for the ``not_applicable`` finding's note."""
    module = ADAPTERS.get(framework, "conformance.adapters").split(":")[0]
    who = ("the suite's recipe" if is_recipe_row(implementation)
           else "the adapter's own code (a recipe constant or a stand-in for a missing flag)")
    return (f"not {framework}'s behaviour: the value observed on {implementation} comes from "
            f"{who}, declared in {module} (recipe_behaviours); what that code does: "
            f"{measured}")


def without_recipe(findings: Sequence[Finding], recipe: frozenset[str], framework: str,
                   implementation: str) -> list[Finding]:
    """The row's findings with every recipe behaviour replaced by ``not_applicable``."""
    return [Finding(f.behaviour, NOT_APPLICABLE,
                    note=recipe_note(framework, implementation, f.actual))
            if f.behaviour in recipe and f.actual != NOT_APPLICABLE else f
            for f in findings]
