"""Shared TensorFlow set-up for the keras, tf_keras and tensorflow adapters.

Kept small and stable on purpose: three adapters import it. TensorFlow prints
C++ log lines, absl warnings and Python deprecation warnings on import and on
first use; none of that is a result, so it is silenced before the import.
Single-threaded execution makes reductions run in one fixed order, so two runs
of the same case give the same bits.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

_NOISY_MODULES = r"(tensorflow|keras|tf_keras|absl|google|h5py|ml_dtypes)(\..*)?"


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Silence file descriptor 2: the C++ runtime logs there before absl is set up
    ("All log messages before absl::InitializeLog()...", "Could not find cuda
    drivers"), whatever TF_CPP_MIN_LOG_LEVEL says."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow(legacy_keras: bool = False, also: tuple[str, ...] = ()) -> Any:
    """Import TensorFlow (and the modules in ``also``) with its logging off.

    Returns the ``tensorflow`` module. ``legacy_keras`` sets
    ``TF_USE_LEGACY_KERAS=1`` (before ``tf.keras`` or ``tf.compat.v1.layers`` is
    first touched), which routes those names to the ``tf_keras`` package; with
    Keras 3 they do not exist.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if legacy_keras:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    warnings.filterwarnings("ignore", module=_NOISY_MODULES)
    for name in ("tensorflow", "absl", "keras", "tf_keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with _stderr_to_devnull():
        tf = importlib.import_module("tensorflow")
        for name in also:
            importlib.import_module(name)
        tf.get_logger().setLevel(logging.ERROR)
        tf.autograph.set_verbosity(0)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # absl ships with TensorFlow; tolerate a slimmed build
            pass
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the runtime is already initialized; keep its setting
            pass
        # Device discovery logs "failed call to cuInit" on machines without a GPU;
        # run it now, while fd 2 is silenced, and start the eager context.
        tf.config.list_physical_devices()
        tf.constant(0.0).numpy()
    return tf


# The seeding recorded by an adapter's ``seed``, not yet done (see ``defer_seed``).
_deferred: list[Callable[[], None]] = []


def defer_seed(apply: Callable[[], None]) -> None:
    """Record the seeding to do before the next row that draws random numbers.

    ``tf.random.set_seed`` clears the eager context's kernel cache (to reset the
    seeds that random kernels hold), so every op run after it instantiates its
    kernel again: seeding before every row doubled the cost of the eager
    batch-norm rows, which draw no random numbers. An adapter's ``seed`` records
    the seeding here instead; a row that draws (dropout) calls
    :func:`apply_deferred_seed` first, which does it exactly as the adapter's
    ``seed`` used to, right before the row runs. A later record replaces an
    earlier one that no row used.
    """
    _deferred[:] = [apply]


def apply_deferred_seed() -> None:
    """Do the recorded seeding, once: a row that draws random numbers calls this first."""
    if _deferred:
        _deferred.pop()()


def seed_tensorflow(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow's global generator (eager and new graphs)."""
    import random

    import numpy as np
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed % (2**32))
    tf.random.set_seed(seed)


def tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)
