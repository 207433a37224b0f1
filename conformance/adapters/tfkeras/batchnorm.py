"""``tf_keras.layers.BatchNormalization`` called directly, on each of its internal paths.

A training step is what a custom training loop does: ``layer(x, training=True)``
under a ``tf.GradientTape`` and the gradient of the summed output, with no
optimizer (gamma and beta stay fixed). The moving statistics change inside the
forward call (``add_update`` runs at once in eager mode), which is what
``mean_after_forward`` shows. Inference is ``layer(x, training=False)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Implementation,
    Outputs,
    Portable,
    Unsupported,
    Variable,
    hyperparameter_kwargs,
    momentum_epsilon_kwargs,
)
from conformance.adapters.tfkeras import _runtime as rt
from conformance.adapters.tfkeras.paths import default_path, flag_qualifiers, row
from conformance.cases.model import Case


def support_reason(case: Case) -> str | None:
    """Why no tf_keras batch-norm layer can run the case, or None."""
    if case.get("momentum") == "none":
        return "tf_keras has no cumulative-average momentum"
    if case.get("flags") == "mean_only":
        return "BatchNormalization has no mean-only mode (center/scale flags only)"
    return None


def layer_kwargs(case: Case, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Constructor arguments as a user would write them for this case.

    ``dtype`` is the case dtype: without it the layer computes in float32 and
    silently casts float64 input down (``inputs = tf.cast(inputs,
    self.compute_dtype)`` at the top of ``call``).
    """
    reason = support_reason(case)
    if reason is not None:
        raise Unsupported(reason)
    k = rt.keras()
    kw: dict[str, Any] = {"axis": 1 if case.channel_axis == 1 else -1, "dtype": case.dtype,
                          **hyperparameter_kwargs(case, "tf_keras")}
    flags = case.get("flags")
    if flags in ("scale_off", "affine_off"):
        kw["scale"] = False
    if flags in ("center_off", "affine_off"):
        kw["center"] = False
    # Initializers, not assignment after build: ghost batch norm shapes gamma as (1, 1, C).
    kw["gamma_initializer"] = k.initializers.Constant(inputs["gamma"].astype(float).tolist())
    kw["beta_initializer"] = k.initializers.Constant(inputs["beta"].astype(float).tolist())
    return kw


def check_path(layer: Any, expected: str) -> None:
    """Refuse to report a row under a path the layer did not take."""
    actual = "fused" if layer.fused else "non_fused"
    if actual != expected:
        raise RuntimeError(f"adapter expected the {expected} path, the layer took {actual}")


def statistics(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    return rt.channel_vector(layer.moving_mean), rt.channel_vector(layer.moving_variance)


@dataclass
class LayerBatchNorm(Implementation):
    """One constructor variant of the layer, called directly.

    ``extra`` are the constructor arguments that define the variant (``renorm``,
    ``fused=False``, ``virtual_batch_size``); ``tags`` its fixed qualifiers. The
    plain layer (no ``extra``) is qualified by the path it takes for the case.
    """

    extra: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def path(self, case: Case) -> str:
        return default_path(case) if not self.extra else "non_fused"

    def qualify(self, case: Case) -> str:
        if self.op == "centering":
            return row(*self.tags, *flag_qualifiers(case))
        return row(*self.tags) if self.extra else row(self.path(case))

    def supports(self, case: Case) -> str | None:
        reason = support_reason(case)
        if reason is not None:
            return reason
        if self.extra.get("fused") is False and default_path(case) != "fused":
            return "the default layer already takes the non-fused path for this case"
        vbs = self.extra.get("virtual_batch_size")
        if vbs is not None and case.shape[0] % int(vbs):
            return f"virtual_batch_size={vbs} must divide the batch ({case.shape[0]})"
        return None

    def portable(self) -> Portable | None:
        """The plain layer only: renorm and ghost batches hold other variables."""
        return TfKerasPort() if self.op == "batchnorm" and not self.extra else None

    def config(self, case: Case) -> dict[str, Any]:
        """The variant's constructor arguments: the oracle models renorm and ghost batches."""
        return dict(self.extra)

    def make(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        """A new layer, built for the case's shape (building is what its first call does)."""
        layer = rt.keras().layers.BatchNormalization(**layer_kwargs(case, inputs), **self.extra)
        layer.build(rt.tf().TensorShape(case.shape))
        return layer

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        tf = rt.tf()
        layer = self.make(case, inputs)
        fresh = rt.Snapshot(layer)
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            ys.append(_train_step(tf, layer, rt.const(x)))
            rm, rv = statistics(layer)
            rms.append(rm)
            rvs.append(rv)
        check_path(layer, self.path(case))
        out: Outputs = {
            "y_train": np.stack(ys), "running_mean": np.stack(rms),
            "running_var": np.stack(rvs),
            "y_eval": rt.to_np(layer(rt.const(inputs["eval"]), training=False)),
        }
        if self.op == "batchnorm":
            out.update(self._probes(layer, fresh, inputs))
        return out

    def _probes(self, layer: Any, fresh: rt.Snapshot, inputs: Mapping[str, np.ndarray]) -> Outputs:
        """The layer back in its fresh state: when the statistics move, and what
        ``trainable=False`` does (a new layer per probe costs more than the probe)."""
        tf = rt.tf()
        x0 = rt.const(inputs["train"][0])
        fresh.restore()
        with tf.GradientTape() as tape:
            y = layer(x0, training=True)
            loss = tf.reduce_sum(y)
        after_forward = rt.channel_vector(layer.moving_mean)
        tape.gradient(loss, layer.trainable_variables)
        after_backward = rt.channel_vector(layer.moving_mean)
        fresh.restore()
        layer.trainable = False
        frozen = rt.to_np(layer(x0, training=True))
        return {"mean_after_forward": after_forward, "mean_after_backward": after_backward,
                "frozen_train": frozen}


# Variable names (the last part of ``batch_normalization/gamma:0``) -> role.
_ROLES = {"gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
          "moving_variance": "running_var"}


def _short(variable: Any) -> str:
    return str(variable.name).rsplit("/", 1)[-1].split(":", 1)[0]


class TfKerasPort(Portable):
    """``tf_keras.layers.BatchNormalization`` variable IO; the row is the path it takes."""

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        return {"axis": channel_axis,
                **momentum_epsilon_kwargs(momentum, epsilon, "tf_keras")}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        layer = rt.keras().layers.BatchNormalization(**arguments, dtype=dtype)
        layer.build(rt.tf().TensorShape(shape))
        return layer

    def read(self, layer: Any) -> list[Variable]:
        return [Variable(_ROLES.get(_short(v), _short(v)), _short(v),
                         rt.to_np(v).copy()) for v in layer.variables]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        for v in layer.variables:
            role = _ROLES.get(_short(v))
            if role is not None and role in values:
                v.assign(np.asarray(values[role]).astype(v.dtype.as_numpy_dtype)
                         .reshape(v.shape))

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return rt.to_np(layer(rt.const(x), training=False))

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _train_step(rt.tf(), layer, rt.const(x))

    def row(self, layer: Any) -> str:
        return row("fused" if layer.fused else "non_fused")


def _train_step(tf: Any, layer: Any, x: Any) -> np.ndarray:
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    tape.gradient(loss, layer.trainable_variables)
    return rt.to_np(y)


# Batch Renormalization clipped so that r = 1 and d = 0: must equal plain batch norm
# in training (BNB:1069-1078), which checks the clipping plumbing itself.
IDENTITY_CLIPPING = {"rmin": 1.0, "rmax": 1.0, "dmax": 0.0}
# The signature's default (BNB:186), passed explicitly so the oracle reads it from the
# recorded config rather than from documentation.
RENORM_MOMENTUM = 0.99


def implementations() -> list[Implementation]:
    return [
        LayerBatchNorm(row(), "batchnorm"),
        LayerBatchNorm(row("fused=False"), "batchnorm", extra={"fused": False},
                       tags=("fused=False",)),
        LayerBatchNorm(row("renorm"), "batchnorm",
                       extra={"renorm": True, "renorm_momentum": RENORM_MOMENTUM},
                       tags=("renorm",)),
        LayerBatchNorm(row("renorm", "rmin=1", "rmax=1", "dmax=0"), "batchnorm",
                       extra={"renorm": True, "renorm_clipping": IDENTITY_CLIPPING,
                              "renorm_momentum": RENORM_MOMENTUM},
                       tags=("renorm", "rmin=1", "rmax=1", "dmax=0")),
        LayerBatchNorm(row("virtual_batch_size=2"), "batchnorm",
                       extra={"virtual_batch_size": 2}, tags=("virtual_batch_size=2",)),
        LayerBatchNorm(row(), "centering"),
    ]
