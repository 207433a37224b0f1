"""Importing TensorFlow and tf_keras quietly, seeding them, and moving arrays in and out.

Kept apart from the implementations so every module of the adapter shares one
import path; the quieting and seeding themselves are shared with the other
TensorFlow adapters in :mod:`conformance.adapters._tf_common`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from conformance.adapters import _tf_common


def quiet_tensorflow() -> None:
    """Import TensorFlow and tf_keras with their logging off (shared TF set-up)."""
    _tf_common.quiet_tensorflow(also=("tf_keras",))


def tf() -> Any:
    import tensorflow

    return tensorflow


def keras() -> Any:
    import tf_keras

    return tf_keras


def seed_tensorflow(seed: int) -> None:
    """Global seed: dropout layers built afterwards draw a fixed mask stream.

    Done by the next dropout row (:func:`apply_seed`), the only rows that draw
    random numbers (see ``_tf_common.defer_seed``).
    """
    _tf_common.defer_seed(functools.partial(_tf_common.seed_tensorflow, seed))


def apply_seed() -> None:
    """The seeding :func:`seed_tensorflow` recorded; a dropout row calls it first."""
    _tf_common.apply_deferred_seed()


def const(a: np.ndarray) -> Any:
    """A tensor of exactly the case's dtype (``model.fit`` would cast NumPy floats to floatx)."""
    return tf().constant(np.ascontiguousarray(a))


def to_np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def channel_vector(variable: Any) -> np.ndarray:
    """A per-channel variable as (C,): ghost batch norm keeps them as (1, 1, C) and the like."""
    return to_np(variable).reshape(-1).copy()


class Snapshot:
    """The values of a built layer's variables, to put it back in that state.

    A direct-call row's probes need a layer in its fresh state; restoring the
    variables of the row's own layer gives exactly that state, and costs far
    less than constructing and building a new layer (variable creation dominates).
    """

    def __init__(self, layer: Any) -> None:
        self._pairs = [(v, v.numpy()) for v in layer.variables]

    def restore(self) -> None:
        for variable, value in self._pairs:
            variable.assign(value)
