"""Importing TensorFlow and tf_keras quietly, seeding them, and moving arrays in and out.

Kept apart from the implementations so every module of the adapter shares one
import path and one notion of "quiet". TensorFlow 2.21 prints absl C++ lines
(oneDNN, CUDA stubs) during import whatever ``TF_CPP_MIN_LOG_LEVEL`` says, so the
import itself runs with file descriptor 2 pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point fd 2 at /dev/null (C++ logging bypasses Python's sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:  # noqa: PTH123  (an fd, not a path object)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow and tf_keras with their logging turned off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf
        import tf_keras  # noqa: F401
    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
    logging.getLogger("absl").setLevel(logging.ERROR)


def tf() -> Any:
    import tensorflow

    return tensorflow


def keras() -> Any:
    import tf_keras

    return tf_keras


def seed_tensorflow(seed: int) -> None:
    """Global seed: ops created afterwards (dropout masks) draw a fixed stream."""
    tf().random.set_seed(seed)


def const(a: np.ndarray) -> Any:
    """A tensor of exactly the case's dtype (``model.fit`` would cast NumPy floats to floatx)."""
    return tf().constant(np.ascontiguousarray(a))


def to_np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def channel_vector(variable: Any) -> np.ndarray:
    """A per-channel variable as (C,): ghost batch norm keeps them as (1, 1, C) and the like."""
    return to_np(variable).reshape(-1).copy()
