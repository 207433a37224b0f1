"""Materialized exploration inputs: the default draws plus the poisoned element."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conformance.cases.families import inputs_for
from conformance.cases.store import load_inputs, load_manifest
from conformance.explore import sampler
from conformance.explore.inputs import explore_inputs, materialize

PARAMS = {"shape": (4, 2), "channel_axis": "first", "dtype": "float32", "momentum": 0.1,
          "epsilon": 1e-3, "steps": 2, "offset": 0.0, "spread": 1.0, "special": "none"}


def test_poison_replaces_one_element_and_nothing_else() -> None:
    case = sampler.bn_case({**PARAMS, "poison": "-inf"})
    got, plain = explore_inputs(case), inputs_for(case)
    assert got["train"].flat[0] == -np.inf
    np.testing.assert_array_equal(got["train"].ravel()[1:], plain["train"].ravel()[1:])
    np.testing.assert_array_equal(got["eval"], plain["eval"])


def test_store_reads_back_what_was_written(tmp_path: Path) -> None:
    cases = [sampler.bn_case({**PARAMS, "poison": "nan"}), *sampler.draw(3, 5)]
    materialize(cases + cases[:1], tmp_path)
    back = load_manifest(tmp_path)
    assert [c.id for c in back] == [c.id for c in cases]
    assert np.isnan(load_inputs(tmp_path, back[0])["train"].flat[0])
