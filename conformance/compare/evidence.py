"""What inference reads: a case, the implementation's outputs on it, and the inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.cases.model import Case, Tolerance
from conformance.cases.tolerances import tolerance_for

# Batch moments of each training step, by case id (shared across the rows of an
# analysis, whose inputs are the same arrays) or by evidence object.
MomentCache = dict[object, list[tuple[np.ndarray, np.ndarray, int]]]


@dataclass
class FitCache:
    """What the fits of different rows of one analysis share (within one process).

    ``ratios``: worst error/tol of an output under one candidate, keyed by what determines
    it (case, output, the output's bits, its bound, the row's arguments, the candidate):
    rows of one framework often return the same bits on a case (a layer and its functional
    form), and their ratios are then the same numbers. ``running``: the oracle's running
    statistics of a case under one momentum and conventions, whoever's outputs they are
    compared with. See ``bn_fit.BatchNormInference``.
    """

    ratios: dict[tuple[object, ...], float] = field(default_factory=dict)
    running: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    case: Case
    outputs: Mapping[str, np.ndarray]
    inputs: Mapping[str, np.ndarray]
    # The arguments the adapter passed beyond the case's (renorm, virtual batches, ...):
    # such rows are predicted by the matching oracle (conformance.compare.special).
    config: Mapping[str, Any] | None = None


def tolerance(e: Evidence, key: str) -> Tolerance:
    """The tolerance an output ``key`` of ``e`` is judged with: the case's own per-channel
    bounds for that output, the same for inference as for the checks (a looser one would
    hide a precision behaviour)."""
    return tolerance_for(e.case, key)


def is_special(e: Evidence) -> bool:
    """Whether ``e``'s row passes arguments only a special oracle models (renorm, virtual
    batches): the plain formula's inverses (epsilon read off a channel) do not apply."""
    c = e.config or {}
    return bool(c.get("renorm")) or c.get("virtual_batch_size") is not None
