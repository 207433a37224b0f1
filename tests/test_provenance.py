"""Recipe behaviours become not_applicable; demonstrations and mask shapes are read back."""

from __future__ import annotations

from typing import Any

from conformance.cases.model import Case, Tolerance
from conformance.compare import provenance
from conformance.compare.fit import Finding
from conformance.spec import NOT_APPLICABLE

TOL = Tolerance(1e-6, 1e-6)
PLAIN = Case.make("dropout", "t", 1, TOL, shape=(4, 6), rate=0.5, dtype="float32",
                  noise_shape=None)
NOISY = Case.make("dropout", "t", 2, TOL, shape=(4, 6), rate=0.5, dtype="float32",
                  noise_shape=(4, 1))
CASES = {c.id: c for c in (PLAIN, NOISY)}


def _rec(case: Case, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"case_id": case.id, "status": status, **extra}


def test_recipe_findings_are_replaced_and_say_which_code() -> None:
    findings = [Finding("momentum_default", "0.99", ["c1"]),
                Finding("epsilon_placement", "inside_sqrt", ["c1"])]
    recipe = provenance.recipe_of([_rec(PLAIN, recipe=["momentum_default"]),
                                   _rec(NOISY, status="error", recipe=["epsilon_placement"])])
    assert recipe == {"momentum_default"}  # only ok records declare anything
    out = provenance.without_recipe(findings, recipe, "tensorflow",
                                    "tf.nn.batch_normalization")
    assert [f.actual for f in out] == [NOT_APPLICABLE, "inside_sqrt"]
    assert "conformance.adapters.tfops" in out[0].note and "0.99" in out[0].note
    assert out[0].evidence == []
    assert out[1] is findings[1]


def test_recipe_rows_are_named_apart() -> None:
    assert provenance.is_recipe_row("recipe:keras.Centering")
    assert not provenance.is_recipe_row("keras.layers.BatchNormalization")
    note = provenance.recipe_note("torch", "recipe:torch.MeanCentering", "yes")
    assert "suite's recipe" in note


def test_demonstration_is_the_scenario_of_the_row() -> None:
    assert provenance.demonstration_of([_rec(PLAIN)]) == ""
    text = "the train op is built without UPDATE_OPS"
    assert provenance.demonstration_of([_rec(PLAIN, demonstration=text),
                                        _rec(NOISY, demonstration=text)]) == text


def test_declared_mask_shapes_fall_back_to_the_case() -> None:
    shapes = provenance.declared_mask_shapes(
        [_rec(PLAIN, mask_shape=None), _rec(NOISY)], CASES)
    assert shapes == {PLAIN.id: None, NOISY.id: (4, 1)}
    assert provenance.mask_shape_of(_rec(PLAIN, mask_shape=[4, 1]), PLAIN) == (4, 1)
    assert provenance.mask_shape_of(_rec(PLAIN), PLAIN) == (4, 6)
