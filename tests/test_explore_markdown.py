"""The Markdown report: standalone snippet, expected with its reason, actual, others."""

from __future__ import annotations

import numpy as np

from conformance.explore import sampler
from conformance.explore.findings import Finding
from conformance.explore.group import group
from conformance.explore.inputs import explore_inputs
from conformance.explore.known import Verdict
from conformance.explore.markdown import index, render, repro

PARAMS = {"channel_axis": "first", "dtype": "float32", "momentum": 0.1, "epsilon": 1e-3,
          "steps": 1, "offset": 0.0, "spread": 1.0, "special": "none", "poison": "nan"}


def test_report_has_every_part_and_a_runnable_numpy_prelude() -> None:
    case = sampler.bn_case({**PARAMS, "shape": (2, 3)})
    f = Finding("pair", "torch", "2.13.0", "torch.nn.BatchNorm1d", "torch.nn.BatchNorm1d",
                "batchnorm", "status nan vs raises", case.id, "BatchNorm1d: nan; F: raises",
                "torch:torch.nn.functional.batch_norm")
    (rc,) = group([f], {case.id: case})
    text = render(rc, {"torch": "2.13.0"}, {"momentum_convention": "weight_on_new"},
                  explore_inputs(case), {("mxnet", "mxnet.nd.BatchNorm"): "nan"}, seed=5)
    for part in ("# torch torch.nn.BatchNorm1d", "torch 2.13.0", "## Smallest configuration",
                 "## Reproduce", "The other form:", "torch.nn.functional.batch_norm",
                 "## Expected", "## Actual", "| mxnet | `mxnet.nd.BatchNorm` | nan |",
                 "seed: 5", "new (not yet triaged)"):
        assert part in text, f"{part!r} missing from:\n{text}"
    assert "conformance" not in text.split("## Reproduce")[1].split("## Expected")[0], \
        "the snippet imports the suite"


def test_poison_is_added_when_inputs_are_rebuilt_from_the_seed() -> None:
    case = sampler.bn_case({**PARAMS, "shape": (64, 3)})
    text = repro("torch", "torch.nn.BatchNorm1d", case, explore_inputs(case))
    assert "train.flat[0] = np.nan" in text
    prelude = text.split("import torch")[0]
    scope: dict[str, object] = {}
    exec(prelude, scope)  # the NumPy part runs and rebuilds the case's bytes
    np.testing.assert_array_equal(scope["train"], explore_inputs(case)["train"])


def test_index_lists_new_known_gone() -> None:
    text = index(Verdict([], [], []), {}, ["Seed 1."])
    assert "New root causes: 0" in text and "Seed 1." in text
