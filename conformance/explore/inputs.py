"""Materialize explored cases: the default draws, then the case's ``poison``.

The arrays come from ``cases.families.inputs_for`` (the same draws as the default
matrix); a batch-norm case with ``poison`` = ``nan``/``inf``/``-inf`` then has the first
element of the first training batch replaced, so NaN and infinities reach every
implementation as the same bytes. The manifest is the store's own format, so the
existing worker reads it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from conformance.cases import store
from conformance.cases.families import inputs_for
from conformance.cases.model import Case

POISON_VALUES = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def explore_inputs(case: Case) -> dict[str, np.ndarray]:
    with np.errstate(over="ignore"):  # 1e8 or 1e30 in float16 is inf: an extreme input
        arrays = inputs_for(case)
    poison = POISON_VALUES.get(str(case.get("poison", "none")))
    if poison is not None and "train" in arrays:
        train = arrays["train"].copy()
        train.flat[0] = poison
        arrays["train"] = train
    return arrays


def materialize(cases: Iterable[Case], root: Path) -> list[Case]:
    """The store's materialize with the exploration's inputs (poisoned where drawn so)."""
    return store.materialize(cases, root, explore_inputs)
