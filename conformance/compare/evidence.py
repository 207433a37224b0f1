"""What inference reads: a case, the implementation's outputs on it, and the inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from conformance.cases.model import Case, Tolerance

# Batch moments of each training step, by case id (shared across the rows of an
# analysis, whose inputs are the same arrays) or by evidence object.
MomentCache = dict[object, list[tuple[np.ndarray, np.ndarray, int]]]


@dataclass(frozen=True)
class Evidence:
    case: Case
    outputs: Mapping[str, np.ndarray]
    inputs: Mapping[str, np.ndarray]


def tolerance(e: Evidence, key: str) -> Tolerance:
    """The tolerance an output ``key`` of ``e`` is judged with: the case's own, the same
    for inference as for the checks (a looser one would hide a precision behaviour)."""
    del key  # one tolerance per case today; per-channel tolerances key on the output
    return e.case.tolerance
