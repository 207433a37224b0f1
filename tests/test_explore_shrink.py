"""Shrinking on a planted finding, decided by plain NumPy (no framework)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from conformance.cases.model import Case
from conformance.explore import sampler, shrink
from conformance.explore.inputs import explore_inputs

BIG = {"shape": (64, 3, 5, 5), "channel_axis": "first", "dtype": "float16",
       "momentum": 1e5, "epsilon": 1e-12, "steps": 3, "offset": 1e8, "spread": 1.0,
       "special": "tiny_variance", "poison": "nan"}


def planted(cases: list[Case]) -> dict[str, set[Hashable]]:
    """A 'framework' whose mean turns NaN only on float16 input: computed, not declared."""
    out: dict[str, set[Hashable]] = {}
    for c in cases:
        x = explore_inputs(c)["train"][0].astype(c.dtype)
        if c.dtype == "float16" and np.isnan(x.mean()):
            out[c.id] = {"nan-mean"}
    return out


def test_shrinks_to_the_smallest_configuration_that_still_fails() -> None:
    start = sampler.bn_case(BIG)
    assert "nan-mean" in planted([start])[start.id]
    calls: list[int] = []

    def counted(cases: list[Case]) -> dict[str, set[Hashable]]:
        calls.append(len(cases))
        return planted(cases)

    small = shrink.shrink({"nan-mean": start}, counted, rounds=12)["nan-mean"]
    assert small.shape == (1, 1), f"shrunk only to {small.shape}"
    assert small.dtype == "float16" and small.get("poison") == "nan", small.param_dict()
    for key in ("momentum", "epsilon", "offset", "special", "steps"):
        assert small.get(key) == shrink._PLAIN[key], f"{key} kept: {small.param_dict()}"
    assert len(calls) < 12, f"{len(calls)} rounds: combining held steps should be faster"


def test_a_finding_that_needs_everything_stays_put() -> None:
    start = sampler.bn_case(BIG)
    only = {start.id}
    out = shrink.shrink({"k": start}, lambda cs: {c.id: {"k"} for c in cs if c.id in only}, 5)
    assert out["k"].id == start.id


def test_candidates_are_simpler_and_valid() -> None:
    start = sampler.bn_case({**BIG, "channel_axis": "last", "shape": (8, 2, 3, 5)})
    for c in shrink.candidates(start):
        assert shrink.size(c) < shrink.size(start), c.param_dict()
        assert c.channels <= start.channels
