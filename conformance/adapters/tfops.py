"""TensorFlow's own ops: the ``tf.nn`` batch-norm recipe, the fused kernel, TF1 layers, dropout.

* ``tf.nn.batch_normalization``: the low-level recipe users write from the
  docstring and tutorials: ``tf.nn.moments`` for the batch statistics, running
  statistics kept by the caller as ``ema = decay*ema + (1-decay)*batch``. The
  op has no momentum and no default epsilon, so for ``"default"`` cases the
  recipe uses decay 0.99 and ``variance_epsilon=1e-3`` (Keras's defaults); no
  documented default is claimed for it.
* ``tf.compat.v1.nn.fused_batch_norm``: the ``FusedBatchNormV3`` kernel; running
  statistics through its ``exponential_avg_factor`` (the case momentum, passed
  unchanged). At the default factor 1.0 it returns the batch statistics
  themselves. ``batch_var_returned`` is the variance it returns for ``train[0]``
  at factor 1.0.
* ``tf.compat.v1.layers.batch_normalization``: graph mode, see :mod:`._tf_v1`.
* ``tf.nn.dropout`` (``rate``), ``tf.compat.v1.nn.dropout[keep_prob]`` (the case
  rate is passed as ``keep_prob``, the argument TF1 code used, so the row's argument
  means the probability to keep; the qualifier says so)
  and ``tf.compat.v1.layers.dropout`` (``rate`` and ``training``). The two
  functions have no inference mode, so they return ``y_train`` only.

Eager steps run the forward pass inside a ``GradientTape`` and take the
gradients without applying them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.adapters._tf_common import (
    apply_deferred_seed,
    defer_seed,
    quiet_tensorflow,
    seed_tensorflow,
)
from conformance.adapters._tf_v1 import V1_BN, V1LayersBatchNorm, v1_layers
from conformance.adapters.base import Adapter, DocClaim, Implementation, Outputs, Unsupported
from conformance.adapters.documented import signature_default, verified_claims
from conformance.arrays import in_case_dtype
from conformance.cases.model import Case
from conformance.oracle.batchnorm import reduce_axes

NN_BN = "tf.nn.batch_normalization"
FUSED = "tf.compat.v1.nn.fused_batch_norm"
NN_DROPOUT = "tf.nn.dropout"
V1_NN_DROPOUT = "tf.compat.v1.nn.dropout[keep_prob]"
V1_LAYERS_DROPOUT = "tf.compat.v1.layers.dropout"
RECIPE_DEFAULTS = {"decay": 0.99, "variance_epsilon": 1e-3}
# What the recipe, not TensorFlow, decides: the op has no momentum, no default epsilon
# and no running statistics, so the EMA (its decay, convention and the variance it
# folds in, the precision its arithmetic applies the decay in), when it runs and what
# inference normalizes with are the recipe's. The normalization formula (epsilon placement
# and floor, gamma, tf.nn.moments' variance) is TensorFlow's.
RECIPE_BEHAVIOURS = frozenset({"momentum_default", "momentum_convention", "epsilon_default",
                               "running_variance_update", "stats_update_trigger",
                               "inference_statistics", "momentum_precision"})
_RECIPE_FLAGS = {"scale_off": ("scale",), "center_off": ("offset",),
                 "affine_off": ("offset", "scale")}


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _float(case: Case, key: str, default: float) -> float:
    value = case.get(key)
    if value == "none":
        raise Unsupported(f"{key}='none' (cumulative average) has no equivalent")
    return default if value == "default" else float(value)  # type: ignore[arg-type]


class RecipeBatchNorm(Implementation):
    """``tf.nn.moments`` + ``tf.nn.batch_normalization`` with caller-kept running stats."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return RECIPE_BEHAVIOURS

    def qualify(self, case: Case) -> str:
        off = _RECIPE_FLAGS.get(str(case.get("flags")), ())
        return f"{self.name}[{','.join(f'{k}=None' for k in off)}]" if off else self.name

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "the recipe's EMA has no cumulative-average option"
        if case.get("flags") == "mean_only":
            return "tf.nn.batch_normalization always divides by the standard deviation"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        tf = _tf()
        inputs = in_case_dtype(inputs, case.dtype)  # bfloat16 arrives as float32
        decay = _float(case, "momentum", RECIPE_DEFAULTS["decay"])
        eps = _float(case, "epsilon", RECIPE_DEFAULTS["variance_epsilon"])
        axes = list(reduce_axes(len(case.shape), case.channel_axis))
        bshape = [1] * len(case.shape)
        bshape[case.channel_axis] = case.channels
        off = _RECIPE_FLAGS.get(str(case.get("flags")), ())
        scale = None if "scale" in off else tf.constant(inputs["gamma"].reshape(bshape))
        offset = None if "offset" in off else tf.constant(inputs["beta"].reshape(bshape))

        def fresh() -> tuple[Any, Any]:
            return (tf.Variable(tf.zeros(bshape, case.dtype)),
                    tf.Variable(tf.ones(bshape, case.dtype)))

        params = [t for t in (scale, offset) if t is not None]

        def step(x: np.ndarray, ema: tuple[Any, Any]) -> tuple[Any, Any, Any]:
            """Forward (with the EMA update, as the tutorials write it) in a tape."""
            xt = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(xt)
                mean, var = tf.nn.moments(xt, axes=axes, keepdims=True)
                y = tf.nn.batch_normalization(xt, mean, var, offset, scale, eps)
                ema[0].assign(decay * ema[0] + (1 - decay) * mean)
                ema[1].assign(decay * ema[1] + (1 - decay) * var)
                loss = tf.reduce_sum(y)
            return y, tape, (loss, [xt, *params])

        ema = fresh()
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            y, tape, loss = step(x, ema)
            tape.gradient(*loss)
            ys.append(_np(y))
            rms.append(_np(ema[0]).reshape(-1))
            rvs.append(_np(ema[1]).reshape(-1))
        y_eval = tf.nn.batch_normalization(tf.constant(inputs["eval"]), ema[0], ema[1], offset,
                                           scale, eps)
        probe = fresh()
        _, tape, loss = step(inputs["train"][0], probe)
        after_forward = _np(probe[0]).reshape(-1)
        tape.gradient(*loss)
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": _np(y_eval),
                "mean_after_forward": after_forward,
                "mean_after_backward": _np(probe[0]).reshape(-1)}


class FusedBatchNorm(Implementation):
    """``tf.compat.v1.nn.fused_batch_norm``: rank 4 or 5, channels at axis 1 or last."""

    def supports(self, case: Case) -> str | None:
        if len(case.shape) not in (4, 5):
            return "fused_batch_norm takes rank 4 or 5 input"
        if case.dtype == "float64":
            return "the FusedBatchNormV3 kernel has no float64 (T: half, bfloat16, float)"
        if case.get("momentum") == "none":
            return "exponential_avg_factor has no cumulative average"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        tf = _tf()
        fn = tf.compat.v1.nn.fused_batch_norm
        inputs = in_case_dtype(inputs, case.dtype)  # bfloat16 arrives as float32
        rank = len(case.shape)
        fmt = {(4, 1): "NCHW", (4, 3): "NHWC", (5, 1): "NCDHW", (5, 4): "NDHWC"}[
            (rank, case.channel_axis)]
        # The kernel takes float32 scale, offset and statistics for half input.
        pdt = "float32" if case.dtype in ("float16", "bfloat16") else case.dtype
        kwargs: dict[str, Any] = {"data_format": fmt}
        if case.get("epsilon") != "default":
            kwargs["epsilon"] = float(case.get("epsilon"))  # type: ignore[arg-type]
        averaged = case.get("momentum") != "default"
        if averaged:
            kwargs["exponential_avg_factor"] = float(case.get("momentum"))  # type: ignore[arg-type]
        scale = tf.constant(inputs["gamma"].astype(pdt))
        offset = tf.constant(inputs["beta"].astype(pdt))

        def step(x: np.ndarray, rm: Any, rv: Any) -> tuple[Any, Any, Any, Any, Any]:
            xt = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(xt)
                stats = {"mean": rm, "variance": rv} if averaged else {}
                y, new_m, new_v = fn(xt, scale, offset, is_training=True, **stats, **kwargs)
                loss = tf.reduce_sum(y)
            return y, new_m, new_v, tape, loss

        rm, rv = tf.zeros(case.channels, pdt), tf.ones(case.channels, pdt)
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            y, rm, rv, tape, loss = step(x, rm, rv)
            tape.gradient(loss, [scale, offset])
            ys.append(_np(y))
            rms.append(_np(rm))
            rvs.append(_np(rv))
        infer = {k: v for k, v in kwargs.items() if k != "exponential_avg_factor"}
        y_eval, _, _ = fn(tf.constant(inputs["eval"]), scale, offset, mean=rm, variance=rv,
                          is_training=False, **infer)
        _, m0, _, tape, loss = step(inputs["train"][0], tf.zeros(case.channels, pdt),
                                    tf.ones(case.channels, pdt))
        tape.gradient(loss, [scale, offset])
        _, _, v_batch = fn(tf.constant(inputs["train"][0]), scale, offset, is_training=True,
                           **infer)
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": _np(y_eval),
                "mean_after_forward": _np(m0), "mean_after_backward": _np(m0),
                "batch_var_returned": _np(v_batch)}


class TfDropout(Implementation):
    """The three dropout entry points; see the module docstring for their arguments."""

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        apply_deferred_seed()
        tf = _tf()
        x = tf.constant(inputs["x"])
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        noise = case.get("noise_shape")
        if self.name == NN_DROPOUT:
            return {"y_train": _np(tf.nn.dropout(x, rate=rate, noise_shape=noise))}
        if self.name == V1_NN_DROPOUT:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = tf.compat.v1.nn.dropout(x, keep_prob=rate, noise_shape=noise)
            return {"y_train": _np(y)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "`tf.layers.dropout` is deprecated"
            fn = v1_layers(tf).dropout
            return {"y_train": _np(fn(x, rate=rate, noise_shape=noise, training=True)),
                    "y_eval": _np(fn(x, rate=rate, noise_shape=noise, training=False))}


class TensorflowAdapter(Adapter):
    framework = "tensorflow"

    def load(self) -> None:
        # tf.compat.v1.layers exists only when routed to tf_keras (Keras 3 has no TF1 API).
        tf = quiet_tensorflow(legacy_keras=True)
        v1_layers(tf).batch_normalization  # noqa: B018  (fail here, not per case)

    def version(self) -> str:
        return str(_tf().__version__)

    def implementations(self) -> Sequence[Implementation]:
        return [
            RecipeBatchNorm(NN_BN, "batchnorm"),
            FusedBatchNorm(FUSED, "batchnorm"),
            V1LayersBatchNorm("batchnorm", with_update_ops=True),
            V1LayersBatchNorm("batchnorm", with_update_ops=False),
            RecipeBatchNorm(NN_BN, "centering"),
            V1LayersBatchNorm("centering", with_update_ops=True),
            TfDropout(NN_DROPOUT, "dropout"),
            TfDropout(V1_NN_DROPOUT, "dropout"),
            TfDropout(V1_LAYERS_DROPOUT, "dropout"),
        ]

    def documented(self) -> list[DocClaim]:
        tf = _tf()
        claims = [
            signature_default(FUSED, tf.compat.v1.nn.fused_batch_norm, "epsilon",
                              "epsilon_default"),
            signature_default(FUSED, tf.compat.v1.nn.fused_batch_norm,
                              "exponential_avg_factor", "momentum_default"),
            signature_default(V1_BN, v1_layers(tf).batch_normalization, "momentum",
                              "momentum_default"),
            signature_default(V1_BN, v1_layers(tf).batch_normalization, "epsilon",
                              "epsilon_default"),
        ]
        return [c for c in claims if c is not None] + verified_claims("tensorflow")

    def seed(self, seed: int) -> None:
        """Done by the next dropout row, the only rows that draw random numbers
        (see ``_tf_common.defer_seed``)."""
        defer_seed(functools.partial(seed_tensorflow, seed))

    def environment(self) -> dict[str, str]:
        import os

        return {"device": "cpu", "tf_use_legacy_keras": os.environ.get("TF_USE_LEGACY_KERAS",
                                                                        "")}
