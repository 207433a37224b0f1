"""Inference recovers conventions from outputs the oracle computed under them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.compare.fit import Finding
from conformance.compare.infer_batchnorm import Evidence, infer_batchnorm, infer_centering
from conformance.compare.infer_dropout import infer_dropout
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do

CASES = {c.id: c for c in generate()}


def _bn_evidence(conv: bn.Conventions, momentum: float, eps: float,
                 op: str = "batchnorm") -> list[Evidence]:
    out = []
    for case in CASES.values():
        if case.op != op or case.dtype != "float64":
            continue
        inputs = inputs_for(case)
        m = case.get("momentum")
        mom = momentum if m == "default" else None if m == "none" else float(m)  # type: ignore[arg-type]
        e = case.get("epsilon")
        ep = eps if e == "default" else float(e)  # type: ignore[arg-type]
        outputs = bn.sequence(inputs["train"], inputs["eval"], case.channel_axis,
                              inputs["gamma"], inputs["beta"], mom, ep, conv)
        first = bn.sequence(inputs["train"][:1], inputs["eval"], case.channel_axis,
                            inputs["gamma"], inputs["beta"], mom, ep, conv)
        outputs["mean_after_forward"] = first["running_mean"][0]
        out.append(Evidence(case, outputs, inputs))
    return out


def _values(findings: list[Finding]) -> Mapping[str, str]:
    return {f.behaviour: f.actual for f in findings}


@pytest.mark.parametrize("conv", [
    bn.Conventions(),
    bn.Conventions(momentum_convention="weight_on_new", normalize_variance="unbiased",
                   running_variance_update="biased", epsilon_placement="outside_sqrt"),
    bn.Conventions(gamma_applied=False, epsilon_floor=1.001e-5, epsilon_placement="no_sqrt"),
])
def test_batchnorm_conventions_are_recovered(conv: bn.Conventions) -> None:
    found = _values(infer_batchnorm(_bn_evidence(conv, 0.25, 1e-3), {}, CASES))
    assert found["momentum_convention"] == conv.momentum_convention
    assert found["normalize_variance"] == conv.normalize_variance
    assert found["running_variance_update"] == conv.running_variance_update
    assert found["epsilon_placement"] == conv.epsilon_placement
    assert found["gamma_applied"] == ("yes" if conv.gamma_applied else "no")
    floor = conv.epsilon_floor
    expected = "as_given" if floor is None else f"clamped_to:{floor:.4g}"
    assert found["epsilon_effective"] == expected
    assert found["inference_statistics"] == "running"
    assert found["stats_update_trigger"] == "forward"
    assert float(found["momentum_default"]) == pytest.approx(0.25, rel=1e-3)
    assert float(found["epsilon_default"]) == pytest.approx(1e-3, rel=1e-2)


def test_never_updated_statistics_are_recovered() -> None:
    conv = bn.Conventions(stats_update_trigger="never")
    evidence = _bn_evidence(conv, 0.1, 1e-5)
    for e in evidence:
        e.outputs["mean_after_forward"] = np.zeros(e.case.channels)  # type: ignore[index]
    found = _values(infer_batchnorm(evidence, {}, CASES))
    assert found["stats_update_trigger"] == "never"


def test_batch_of_one_error_is_reported() -> None:
    ones = [c for c in CASES.values() if c.op == "batchnorm" and c.shape[0] == 1
            and len(c.shape) == 2]
    failed = {ones[0].id: ("error", "ValueError: Expected more than 1 value per channel")}
    found = _values(infer_batchnorm(_bn_evidence(bn.Conventions(), 0.1, 1e-5), failed, CASES))
    assert found["batch_size_one_training"] in ("error", "beta")


def test_mean_only_centering_is_recognised() -> None:
    conv = bn.Conventions(variance_normalized=False, gamma_applied=False)
    found = _values(infer_centering(_bn_evidence(conv, 0.1, 1e-5, "centering")))
    assert found["variance_normalized"] == "no"
    assert found["offset_applied"] == "yes"


def _dropout_evidence(semantics: str, scale: str, inference: str) -> list[Evidence]:
    out = []
    for case in CASES.values():
        if case.op != "dropout":
            continue
        inputs = inputs_for(case)
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        p = do.drop_probability(rate, semantics)
        noise = case.get("noise_shape")
        shape = noise if isinstance(noise, tuple) else inputs["x"].shape
        kept = np.broadcast_to(np.random.default_rng(0).random(shape) >= p, inputs["x"].shape)
        out.append(Evidence(case, {
            "y_train": do.training_output(inputs["x"], kept, rate, scale, semantics),
            "y_eval": do.inference_output(inputs["x"], rate, inference, semantics)}, inputs))
    return out


@pytest.mark.parametrize(("semantics", "scale", "inference"), [
    ("drop_probability", "inverse_keep", "identity"),
    ("keep_probability", "none", "scaled_by_keep"),
])
def test_dropout_conventions_are_recovered(semantics: str, scale: str, inference: str) -> None:
    rates = {c.id: float(c.get("rate")) for c in CASES.values() if c.op == "dropout"}  # type: ignore[arg-type]
    found = _values(infer_dropout(_dropout_evidence(semantics, scale, inference), {}, rates))
    assert found["rate_semantics"] == semantics
    assert found["training_scale"] == scale
    assert found["inference_output"] == inference
    assert found["drop_fraction"] == "consistent"


def test_biased_masks_are_inconsistent() -> None:
    evidence = _dropout_evidence("drop_probability", "inverse_keep", "identity")
    for e in evidence:  # a framework that drops 10 % more than asked
        rate = float(e.case.get("rate"))  # type: ignore[arg-type]
        if 0 < rate < 0.85:
            kept = np.random.default_rng(1).random(e.inputs["x"].shape) >= rate + 0.1
            e.outputs["y_train"] = do.training_output(e.inputs["x"], kept, rate,  # type: ignore[index]
                                                      "inverse_keep")
    rates = {c.id: float(c.get("rate")) for c in CASES.values() if c.op == "dropout"}  # type: ignore[arg-type]
    assert _values(infer_dropout(evidence, {}, rates))["drop_fraction"] == "inconsistent"


def test_every_case_has_a_unique_stable_id() -> None:
    ids = [c.id for c in generate()]
    assert len(ids) == len(set(ids))
    again = [c.id for c in generate()]
    assert ids == again
    assert all(Case.from_json(c.to_json()).id == c.id for c in generate())
