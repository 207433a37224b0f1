"""Grouping findings by root cause: sizes shrink away, needed values stay."""

from __future__ import annotations

from conformance.explore import sampler
from conformance.explore.findings import Finding, message_key
from conformance.explore.group import features, group

PARAMS = {"channel_axis": "first", "dtype": "float16", "momentum": "default",
          "epsilon": "default", "steps": 1, "offset": 0.0, "spread": 1.0, "special": "none",
          "poison": "nan"}


def _f(impl: str, case_id: str, check: str = "y_train", kind: str = "oracle") -> Finding:
    return Finding(kind, "torch", "2.13.0", impl, impl, "batchnorm", check, case_id, "d")


def test_one_cause_across_sizes_and_implementations_two_across_values() -> None:
    a = sampler.bn_case({**PARAMS, "shape": (2, 1)})
    b = sampler.bn_case({**PARAMS, "shape": (4, 3)})
    c = sampler.bn_case({**PARAMS, "shape": (2, 1), "dtype": "float32"})
    cases = {x.id: x for x in (a, b, c)}
    causes = group([_f("torch.nn.BatchNorm1d", a.id), _f("torch.nn.functional.batch_norm", b.id,
                                                         "running_var"),
                    _f("torch.nn.BatchNorm1d", c.id)], cases)
    assert len(causes) == 2, [rc.signature for rc in causes]
    big = causes[0]
    assert big.implementations == ["torch.nn.BatchNorm1d", "torch.nn.functional.batch_norm"]
    assert big.case is not None and big.case.id == a.id, "the smallest case represents it"
    assert big.signature.endswith("|half|nonfinite_input"), big.signature
    assert big.features == ("dtype=float16", "poison=nan"), big.features


def test_one_error_message_is_one_cause_whatever_the_values() -> None:
    a = sampler.bn_case({**PARAMS, "shape": (2, 1)})
    b = sampler.bn_case({**PARAMS, "shape": (4, 3), "dtype": "float64", "poison": "none"})
    causes = group([_f("torch.nn.BatchNorm1d", a.id, "error: E: N", "status"),
                    _f("torch.nn.functional.batch_norm", b.id, "error: E: N", "status")],
                   {a.id: a, b.id: b})
    assert len(causes) == 1 and len(causes[0].implementations) == 2


def test_features_name_only_what_differs_from_plain() -> None:
    case = sampler.bn_case({**PARAMS, "shape": (1, 2), "dtype": "float32", "poison": "none"})
    assert features(case) == ("batch=1",)


def test_message_key_blanks_numbers_and_names() -> None:
    assert message_key("ValueError: got 0.0 in 'bn_12'\nmore") == "ValueError: got N in '…'"
    assert message_key("Exception encountered when calling X\nboom 3") == "boom N"
    assert message_key("\x1b[96mstep 1\x1b[0m") == "step N"


def test_non_finite_inputs_and_one_value_per_channel_are_causes_of_their_own() -> None:
    poisoned = sampler.bn_case({**PARAMS, "shape": (4, 3)})
    one = sampler.bn_case({**PARAMS, "shape": (1, 3), "poison": "none"})
    plain = sampler.bn_case({**PARAMS, "shape": (4, 3), "poison": "none"})
    no_eps = sampler.bn_case({**PARAMS, "shape": (4, 3), "poison": "none", "epsilon": 0.0})
    all4 = (poisoned, one, plain, no_eps)
    causes = group([_f("m", c.id) for c in all4], {c.id: c for c in all4})
    assert sorted(rc.signature.split("|", 5)[5] for rc in causes) == [
        "half", "half|epsilon_zero", "half|nonfinite_input", "half|one_value_per_channel"]
