"""Batch Renormalization (Ioffe 2017) in float64, as tf_keras implements it.

Training normalizes with the batch statistics and then applies the correction
``y = (x_hat * r + d) * gamma + beta``, where ``r`` and ``d`` compare the batch
to a second pair of moving averages (``renorm_mean``, ``renorm_stddev``) kept
with their own ``renorm_momentum``. Inference is plain batch norm on the
inference moving statistics, which renorm updates through a moving *standard
deviation*. Every detail below is read from tf_keras 2.21.0,
``tf_keras/src/layers/normalization/batch_normalization.py`` (BNB):

* ``stddev = sqrt(var_B + eps)``, with the batch variance that normalizes
  (BNB:1056); the moving standard deviation is floored at ``sqrt(eps)``
  before dividing (BNB:1061); ``r = stddev / renorm_stddev`` and
  ``d = (mean_B - renorm_mean) / renorm_stddev`` use the pre-update averages
  (BNB:1063-1068).
* ``r`` is clipped to ``[rmin, rmax]`` and ``d`` to ``[-dmax, dmax]``, each side
  only when given (BNB:1069-1078); there is no schedule: the clipping values
  are constants of the layer (BNB:246-255; a schedule needs tensors that the
  caller changes, which the suite does not pass).
* The correction composes with gamma and beta as ``scale = r * gamma``,
  ``offset = d * gamma + beta`` (BNB:718-733, ``_compose_transforms`` BNB:637-644),
  applied by ``tf.nn.batch_normalization`` on the batch statistics (BNB:788-795).
* ``renorm_mean`` and ``renorm_stddev`` move towards ``mean_B`` and ``stddev``
  with ``renorm_momentum`` (BNB:1087-1112); they start at the moving mean's and
  at the square root of the moving variance's initial values (BNB:489-492,
  533-541).
* The inference moving mean moves towards ``mean_B`` with ``momentum``; the
  moving variance is not averaged itself: ``moving_stddev`` moves towards
  ``sqrt(var_B + eps)`` with ``momentum`` and the variance is set to
  ``relu(moving_stddev**2 - eps)`` (BNB:751-763). ``moving_stddev`` starts at
  ``sqrt`` of the variance initializer (BNB:489-505).
* Inference (``training=False``) uses the moving mean and variance with no
  correction (BNB:645-646, 1080-1085).

The gradient is stopped through ``r`` and ``d`` (BNB:731-732): irrelevant to
forward values, which are all the suite compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.oracle import batchnorm as bn


@dataclass(frozen=True)
class Renorm:
    """The layer's renorm arguments; ``None`` clipping values clip nothing (BNB:1072-1078)."""

    rmin: float | None = None
    rmax: float | None = None
    dmax: float | None = None
    renorm_momentum: float = 0.99


def correction(mean: np.ndarray, var: np.ndarray, renorm_mean: np.ndarray,
               renorm_stddev: np.ndarray, eps: float,
               params: Renorm) -> tuple[np.ndarray, np.ndarray]:
    """Clipped (r, d) of one training step from the pre-update renorm averages."""
    stddev = np.sqrt(np.asarray(var, dtype=np.float64) + eps)
    floor = np.maximum(np.asarray(renorm_stddev, dtype=np.float64), np.sqrt(eps))
    r = stddev / floor
    d = (np.asarray(mean, dtype=np.float64) - renorm_mean) / floor
    if params.rmin is not None:
        r = np.maximum(r, params.rmin)
    if params.rmax is not None:
        r = np.minimum(r, params.rmax)
    if params.dmax is not None:
        d = np.minimum(np.maximum(d, -params.dmax), params.dmax)
    return np.asarray(r), np.asarray(d)


def corrected_output(x: np.ndarray, channel_axis: int, mean: np.ndarray, var: np.ndarray,
                     r: np.ndarray, d: np.ndarray, eps: float, gamma: np.ndarray,
                     beta: np.ndarray, conv: bn.Conventions) -> np.ndarray:
    """``(x_hat * r + d) * gamma + beta`` with ``x_hat`` under ``conv`` (gamma, beta
    dropped where ``conv`` says they are not applied)."""
    shape = tuple(-1 if a == channel_axis else 1 for a in range(np.ndim(x)))
    g = np.asarray(gamma, dtype=np.float64) if conv.gamma_applied else np.ones_like(r)
    b = np.asarray(beta, dtype=np.float64) if conv.offset_applied else np.zeros_like(r)
    plain = conv.with_(gamma_applied=False, offset_applied=False)
    x_hat = bn.normalize(x, channel_axis, mean, var, eps, g, b, plain)
    return np.asarray((x_hat * r.reshape(shape) + d.reshape(shape)) * g.reshape(shape)
                      + b.reshape(shape))


def sequence(train: np.ndarray, evaluate: np.ndarray, channel_axis: int, gamma: np.ndarray,
             beta: np.ndarray, momentum: float, eps: float, conv: bn.Conventions,
             params: Renorm, init_mean: float = 0.0, init_var: float = 1.0,
             ) -> dict[str, np.ndarray]:
    """k renorm training steps then inference: the keys of :func:`bn.sequence`.

    ``conv`` governs what it governs in plain batch norm (the variance estimator
    and epsilon placement of the normalization, gamma and beta, the momentum
    convention, whether statistics update, which statistics inference uses);
    ``running_variance_update`` has no say, as renorm replaces that update.
    """
    c = train.shape[1:][channel_axis]
    moving_mean = np.full(c, init_mean, dtype=np.float64)
    moving_var = np.full(c, init_var, dtype=np.float64)
    moving_stddev = np.sqrt(moving_var)
    renorm_mean, renorm_stddev = moving_mean.copy(), moving_stddev.copy()
    ys, rms, rvs = [], [], []
    for step, x in enumerate(train, start=1):
        mean, var, n = bn.batch_moments(x, channel_axis)
        if conv.normalize_variance == "unbiased":
            var = bn.unbias(var, n)
        r, d = correction(mean, var, renorm_mean, renorm_stddev, eps, params)
        ys.append(corrected_output(x, channel_axis, mean, var, r, d, eps, gamma, beta, conv))
        if conv.stats_update_trigger != "never":
            stddev = np.sqrt(var + eps)
            renorm_mean = bn.update(renorm_mean, mean, params.renorm_momentum, step,
                                    conv.momentum_convention)
            renorm_stddev = bn.update(renorm_stddev, stddev, params.renorm_momentum, step,
                                      conv.momentum_convention)
            moving_mean = bn.update(moving_mean, mean, momentum, step, conv.momentum_convention)
            moving_stddev = bn.update(moving_stddev, stddev, momentum, step,
                                      conv.momentum_convention)
            moving_var = np.maximum(moving_stddev * moving_stddev - eps, 0.0)
        rms.append(moving_mean)
        rvs.append(moving_var)
    y_eval = bn.inference(evaluate, moving_mean, moving_var, gamma, beta, eps, conv,
                          channel_axis)
    return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
            "running_var": np.stack(rvs), "y_eval": y_eval}
