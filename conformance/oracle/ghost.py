"""Ghost (virtual) batch normalization in float64.

The batch is split into virtual batches of ``virtual_batch_size`` samples, each
normalized with its own statistics; gamma, beta and the running statistics are
shared. Which samples form a virtual batch is a convention (``grouping``):

* ``strided``: tf_keras (``tf_keras/src/layers/normalization/batch_normalization.py``,
  BNB below) reshapes the ``(N, ...)`` batch in training to
  ``(virtual_batch_size, N // virtual_batch_size, ...)`` (TF2 branch,
  ``expanded_shape = [self.virtual_batch_size, -1]``, BNB:567-576, reshaped at
  BNB:590) and reduces over the first axis, not the second (BNB:617-619):
  virtual batch ``j`` is samples ``j, j + G, j + 2G, ...`` with
  ``G = N // virtual_batch_size``;
* ``contiguous``: samples ``j*vbs .. (j+1)*vbs - 1``, the reading of
  "sub-batches" a user would expect.

The running statistics are updated once per step with the *average over the
virtual batches* of their means and variances (BNB:690-698: "it is more
efficient to just update in one step"), not with the whole batch's variance.
Inference reshapes to ``[-1, 1]`` (BNB:568-570) and normalizes every sample with
the running statistics: plain batch-norm inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from conformance.oracle import batchnorm as bn

GROUPINGS = ("strided", "contiguous")


def groups(n: int, virtual_batch_size: int, grouping: str) -> list[np.ndarray]:
    """Sample indices of each virtual batch of a batch of ``n``."""
    if virtual_batch_size <= 0 or n % virtual_batch_size:
        raise ValueError(f"virtual_batch_size={virtual_batch_size} must divide the batch ({n})")
    count = n // virtual_batch_size
    index = np.arange(n)
    if grouping == "strided":
        return [index[j::count] for j in range(count)]
    if grouping == "contiguous":
        return [index[j * virtual_batch_size:(j + 1) * virtual_batch_size]
                for j in range(count)]
    raise ValueError(f"unknown grouping {grouping!r}")


def _grouped(x: np.ndarray, virtual_batch_size: int,
             grouping: str) -> tuple[np.ndarray, np.ndarray]:
    """The virtual batches stacked on a new first axis (G, virtual_batch_size, ...), and
    the (G, virtual_batch_size) sample indices they were taken from."""
    index = np.stack(groups(np.shape(x)[0], virtual_batch_size, grouping))
    return np.asarray(x, dtype=np.float64)[index], index


def training_outputs(x: np.ndarray, channel_axis: int, virtual_batch_size: int,
                     variants: Sequence[tuple[float, bn.Conventions]], gamma: np.ndarray,
                     beta: np.ndarray, grouping: str) -> np.ndarray:
    """Each virtual batch normalized with its own statistics, under each (eps, conventions)
    variant, stacked on a new first axis (``bn.training_outputs`` of every virtual batch,
    all at once)."""
    if channel_axis == 0:
        raise ValueError("virtual batches split axis 0, which cannot be the channel axis")
    x = np.asarray(x, dtype=np.float64)
    stacked, index = _grouped(x, virtual_batch_size, grouping)
    per_group = bn.training_outputs(stacked, channel_axis, variants, gamma, beta, grouped=True)
    y: np.ndarray = np.empty((len(variants), *x.shape), dtype=np.float64)
    y[:, index.reshape(-1)] = per_group.reshape(len(variants), -1, *x.shape[1:])
    return y


def training_output(x: np.ndarray, channel_axis: int, virtual_batch_size: int, eps: float,
                    gamma: np.ndarray, beta: np.ndarray, conv: bn.Conventions,
                    grouping: str) -> np.ndarray:
    """Each virtual batch normalized with its own statistics under ``conv``."""
    y: np.ndarray = training_outputs(x, channel_axis, virtual_batch_size, [(eps, conv)],
                                     gamma, beta, grouping)[0]
    return y


def step_statistics(x: np.ndarray, channel_axis: int, virtual_batch_size: int,
                    conv: bn.Conventions, grouping: str) -> tuple[np.ndarray, np.ndarray]:
    """The (mean, variance) one step feeds the running update: the averages over the
    virtual batches, each variance under ``conv.running_variance_update``."""
    stacked, _ = _grouped(x, virtual_batch_size, grouping)
    means, variances, n = bn.batch_moments(stacked, channel_axis, grouped=True)
    if conv.running_variance_update == "unbiased":
        variances = bn.unbias(variances, n)
    return np.mean(means, axis=0), np.mean(variances, axis=0)


def running_statistics(train: np.ndarray, channel_axis: int, momentum: float | None,
                       conv: bn.Conventions, virtual_batch_size: int,
                       grouping: str = "strided", init_mean: float = 0.0,
                       init_var: float = 1.0,
                       steps: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Running mean and variance after each step (the ``running_*`` keys of :func:`sequence`),
    without the normalized outputs; ``steps``: each step's :func:`step_statistics` if known
    (they depend on the estimator, not on the momentum)."""
    c = train.shape[1:][channel_axis]
    rm = np.full(c, init_mean, dtype=np.float64)
    rv = np.full(c, init_var, dtype=np.float64)
    rms, rvs = [], []
    for step, x in enumerate(train, start=1):
        if conv.stats_update_trigger != "never":
            mean, var = steps[step - 1] if steps is not None else step_statistics(
                x, channel_axis, virtual_batch_size, conv, grouping)
            rm = bn.update(rm, mean, momentum, step, conv.momentum_convention)
            if conv.running_variance_update != "not_updated":
                rv = bn.update(rv, var, momentum, step, conv.momentum_convention)
        rms.append(rm)
        rvs.append(rv)
    return np.stack(rms), np.stack(rvs)


def sequence(train: np.ndarray, evaluate: np.ndarray, channel_axis: int, gamma: np.ndarray,
             beta: np.ndarray, momentum: float | None, eps: float, conv: bn.Conventions,
             virtual_batch_size: int, grouping: str = "strided", init_mean: float = 0.0,
             init_var: float = 1.0) -> dict[str, np.ndarray]:
    """k ghost-batch training steps then inference: the keys of :func:`bn.sequence`."""
    ys = [training_output(x, channel_axis, virtual_batch_size, eps, gamma, beta, conv, grouping)
          for x in train]
    rms, rvs = running_statistics(train, channel_axis, momentum, conv, virtual_batch_size,
                                  grouping, init_mean, init_var)
    if conv.inference_statistics == "batch":
        y_eval = training_output(evaluate, channel_axis, virtual_batch_size, eps, gamma, beta,
                                 conv, grouping)
    else:
        y_eval = bn.normalize(evaluate, channel_axis, rms[-1], rvs[-1], eps, gamma, beta, conv)
    return {"y_train": np.stack(ys), "running_mean": rms, "running_var": rvs,
            "y_eval": y_eval}
