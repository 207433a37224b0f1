"""Dropout inference on planted masks: counted on the declared shape, sharing caught."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.infer_batchnorm import Evidence
from conformance.compare.infer_dropout import (
    MASK_BEHAVIOURS,
    MaskShape,
    infer_dropout,
    mask_checks,
    mask_counts,
    mask_sharing,
)
from conformance.oracle import dropout as do
from conformance.spec import INCONCLUSIVE, NOT_APPLICABLE

DROPOUT = [c for c in generate() if c.op == "dropout"]
RATES = {c.id: float(c.get("rate")) for c in DROPOUT}  # type: ignore[arg-type]
Draw = Callable[[Case, np.random.Generator, float], np.ndarray]


def _rate(case: Case) -> float:
    return float(case.get("rate"))  # type: ignore[arg-type]


def _declared(case: Case) -> tuple[int, ...]:
    noise = case.get("noise_shape")
    return noise if isinstance(noise, tuple) else case.shape


def honest(case: Case, rng: np.random.Generator, p: float) -> np.ndarray:
    """One independent draw per cell of the declared shape, broadcast."""
    return np.broadcast_to(rng.random(_declared(case)) >= p, case.shape)


def batch_shared(case: Case, rng: np.random.Generator, p: float) -> np.ndarray:
    """One mask for the whole batch: the first axis shares a single draw."""
    return np.broadcast_to(rng.random((1, *_declared(case)[1:])) >= p, case.shape)


def _evidence(draw: Draw, semantics: str = "drop_probability",
              keep: Callable[[Case], bool] = lambda c: True) -> list[Evidence]:
    out = []
    rng = np.random.default_rng(11)
    for case in DROPOUT:
        if not keep(case):
            continue
        x = inputs_for(case)["x"]
        rate = _rate(case)
        kept = draw(case, rng, do.drop_probability(rate, semantics))
        out.append(Evidence(case, {"y_train": do.training_output(x, kept, rate, "inverse_keep",
                                                                  semantics),
                                   "y_eval": x.copy()}, {"x": x}))
    return out


def _values(ev: list[Evidence], shapes: dict[str, MaskShape] | None = None) -> dict[str, str]:
    return {f.behaviour: f.actual for f in infer_dropout(ev, {}, RATES, shapes)}


def test_honest_masks_pass_on_their_declared_shape() -> None:
    found = _values(_evidence(honest))
    assert found["mask_sharing"] == "as_declared"
    assert found["drop_fraction"] == "consistent"
    assert found["rate_semantics"] == "drop_probability"


def test_a_mask_shared_across_the_batch_is_caught() -> None:
    ev = _evidence(batch_shared)
    found = _values(ev)
    assert found["mask_sharing"] == "shared_along_extra_axes"
    inner = [e for e in ev if 0 < _rate(e.case) < 1 and _declared(e.case)[0] > 1]
    verdicts = [ok for e in inner
                for check, ok, _, _ in mask_checks(e, _declared(e.case), _rate(e.case))
                if check == "mask_sharing"]
    assert len(verdicts) == len(inner) > 5
    assert not any(verdicts)


def test_batch_shared_mask_is_counted_on_the_declared_draws() -> None:
    """Counting must not collapse the shared axis: the trials are the declared cells."""
    case = next(c for c in DROPOUT if c.family == "do_rate" and _rate(c) == 0.5)
    ev = _evidence(batch_shared, keep=lambda c: c.id == case.id)[0]
    dropped, trials = mask_counts(ev, case.shape)
    assert trials == int(np.prod(case.shape))
    assert dropped % case.shape[0] == 0  # each batch-shared drop counted once per sample


def test_honest_spatial_mask_passes_and_elementwise_mask_varies_along_shared_axes() -> None:
    spatial = [c for c in DROPOUT if c.family == "do_spatial"]
    ev = _evidence(honest, keep=lambda c: c.family == "do_spatial")
    shapes: dict[str, MaskShape] = {c.id: _declared(c) for c in spatial}
    found = _values(ev, shapes)
    assert found["mask_sharing"] == "as_declared"
    assert found["drop_fraction"] == "consistent"
    rng = np.random.default_rng(3)
    for e in ev:  # an implementation that promised channels but drew elementwise
        e.outputs["y_train"] = do.training_output(  # type: ignore[index]
            e.inputs["x"], rng.random(e.case.shape) >= 0.5, 0.5, "inverse_keep")
    assert _values(ev, shapes)["mask_sharing"] == "varies_along_shared_axes"


def test_keep_probability_is_found_or_inconclusive_never_drop() -> None:
    found = _values(_evidence(honest, "keep_probability"))
    assert found["rate_semantics"] in ("keep_probability", INCONCLUSIVE)
    assert found["rate_semantics"] == "keep_probability"  # the default cases can tell


def test_rate_semantics_is_inconclusive_when_both_hypotheses_pass() -> None:
    """Few draws: 20 drops in 40 fit both 0.4 and 0.6, so neither may win."""
    case = Case.make("dropout", "planted", 1, DROPOUT[0].tolerance, shape=(40,), rate=0.4,
                     dtype="float32", noise_shape=None)
    x = np.linspace(1, 2, 40).astype(np.float32)
    kept = np.arange(40) % 2 == 0
    ev = [Evidence(case, {"y_train": do.training_output(x, kept, 0.4, "inverse_keep")},
                   {"x": x})]
    assert _values(ev)["rate_semantics"] == INCONCLUSIVE


def test_mask_behaviours_are_not_applicable_without_a_mask() -> None:
    ev = _evidence(honest)
    found = _values(ev, dict.fromkeys((e.case.id for e in ev), None))
    assert all(found[b] == NOT_APPLICABLE for b in MASK_BEHAVIOURS)
    assert found["inference_output"] == "identity"


@pytest.mark.parametrize(("p", "k", "m", "expected"), [
    (0.1, 4, 3, "as_declared"),   # a constant axis this short is likely by chance
    (0.5, 64, 1, "shared_along_extra_axes"),
])
def test_constancy_is_only_called_sharing_when_chance_cannot_explain_it(
        p: float, k: int, m: int, expected: str) -> None:
    kept = np.ones((k, m), dtype=bool)
    assert mask_sharing(kept, (k, m), p, 1e-3)[0] == expected
