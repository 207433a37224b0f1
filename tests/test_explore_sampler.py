"""The sampler: reproducible from its seed, and reaching the corners the issue names."""

from __future__ import annotations

from conformance.cases.model import DTYPES
from conformance.explore import sampler


def test_same_seed_same_cases_and_other_seed_other_cases() -> None:
    a, b = sampler.draw(7, 40), sampler.draw(7, 40)
    assert [c.to_json() for c in a] == [c.to_json() for c in b], "one seed drew two lists"
    assert [c.id for c in sampler.draw(8, 40)] != [c.id for c in a], "seeds 7 and 8 agree"


def test_draws_cover_the_corners() -> None:
    cases = sampler.draw(0, 400)
    bn = [c for c in cases if c.op == "batchnorm"]
    do = [c for c in cases if c.op == "dropout"]
    assert {len(c.shape) for c in bn} == {2, 3, 4, 5}
    assert {c.get("channel_axis") for c in bn} == {"first", "last"}
    assert {c.dtype for c in cases} == set(DTYPES)
    assert any(c.channels == 1 for c in bn) and any(c.shape[0] == 1 for c in bn)
    assert any(c.shape[0] >= 64 for c in bn), "no large batch drawn"
    assert {c.get("momentum") for c in bn} >= {0.0, 1.0, "none", 1e-12, 1e5}
    assert {c.get("epsilon") for c in bn} >= {1e-12, 1e5}
    assert {c.get("poison") for c in bn} >= {"nan", "inf"}
    assert {c.get("offset") for c in bn} >= {1e8} and {c.get("spread") for c in bn} >= {1e-40}
    assert {c.get("rate") for c in do} >= {1e-7, 1.0 - 1e-7, 1.0}
    assert any(c.get("noise_shape") is not None for c in do)


def test_tolerance_is_derived_as_the_default_families_derive_it() -> None:
    from conformance.cases.families import precision_band

    case = sampler.bn_case({"shape": (4, 3), "channel_axis": "first", "dtype": "float32",
                            "momentum": 0.1, "epsilon": 1e-3, "steps": 2, "offset": 0.0,
                            "spread": 1.0, "special": "none", "poison": "none"})
    assert case.tolerance == precision_band(case)
    assert not case.informational


def test_one_channel_drops_a_special_that_marks_channel_one() -> None:
    case = sampler.bn_case({"shape": (4, 1), "channel_axis": "first", "dtype": "float32",
                            "momentum": 0.1, "epsilon": 1e-3, "steps": 1, "offset": 0.0,
                            "spread": 1.0, "special": "tiny_variance", "poison": "none"})
    assert case.get("special") == "none"
