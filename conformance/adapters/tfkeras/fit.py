"""``model.fit`` then ``model.predict`` on a one-layer ``tf_keras.Model``.

This is how most users reach training and inference mode: Keras sets
``training`` itself, inside a traced ``tf.function``. The model is
``Input -> BatchNormalization -> _Recorder``; ``_Recorder`` is an identity layer
that keeps the last training-mode output in a variable so each step's output can
be read from a callback. The optimizer is ``SGD(learning_rate=0)`` so gamma and
beta stay put, ``batch_size`` is the case's batch and ``shuffle=False``, so fit
takes exactly one step per training batch, in order.

Data go in as a ``tf.data.Dataset`` of tensors of the case dtype, batched by
the case's batch: NumPy float64 arrays given to ``fit`` are cast to ``floatx``
(float32) by the data adapter (tf_keras ``src/engine/data_adapter.py:1161-1164``),
which would hide the layer's own precision behind the input pipeline's, and
tensors given to ``fit`` or ``predict`` make the data adapter trace three
``tf.data`` functions on every call (slicing and batching), which cost more
than the case's steps.

Compiled models are cached by everything that is traced into them (shape, dtype,
axis, momentum, epsilon, flags); a reused model gets its variables reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.adapters.base import Implementation, Outputs
from conformance.adapters.tfkeras import _runtime as rt
from conformance.adapters.tfkeras.batchnorm import (
    check_path,
    layer_kwargs,
    statistics,
    support_reason,
)
from conformance.adapters.tfkeras.paths import default_path, row
from conformance.cases.model import Case

_Key = tuple[Any, ...]


def _key(case: Case) -> _Key:
    p = case.param_dict()
    return (case.shape, case.dtype, case.channel_axis, p.get("momentum"), p.get("epsilon"),
            p.get("flags"))


def _recorder_class() -> Any:
    """Defined lazily: the base class lives in tf_keras, imported only in the worker."""
    k = rt.keras()
    tf = rt.tf()

    class _Recorder(k.layers.Layer):  # type: ignore[misc,name-defined]
        def build(self, input_shape: Any) -> None:
            self.seen = self.add_weight(name="seen", shape=input_shape, dtype=self.dtype,
                                        initializer="zeros", trainable=False)
            super().build(input_shape)

        def call(self, inputs: Any, training: Any = None) -> Any:
            if training is True:
                self.seen.assign(inputs)
            return tf.identity(inputs)

    return _Recorder


@dataclass
class FitBatchNorm(Implementation):
    """Training through ``model.fit``, inference through ``model.predict``."""

    _models: dict[_Key, tuple[Any, Any, Any]] = field(default_factory=dict, repr=False)

    def qualify(self, case: Case) -> str:
        return row("fit", default_path(case))

    def supports(self, case: Case) -> str | None:
        return support_reason(case)

    def _model(self, case: Case, inputs: Mapping[str, np.ndarray]) -> tuple[Any, Any, Any]:
        key = _key(case)
        if key in self._models:
            model, bn, rec = self._models[key]
            # Back to the state of a fresh layer; gamma and beta to this case's values.
            bn.moving_mean.assign(np.zeros(bn.moving_mean.shape))
            bn.moving_variance.assign(np.ones(bn.moving_variance.shape))
            if bn.scale:
                bn.gamma.assign(inputs["gamma"].astype(float).reshape(bn.gamma.shape))
            if bn.center:
                bn.beta.assign(inputs["beta"].astype(float).reshape(bn.beta.shape))
            return model, bn, rec
        k = rt.keras()
        inp = k.Input(shape=case.shape[1:], batch_size=case.shape[0], dtype=case.dtype)
        bn = k.layers.BatchNormalization(**layer_kwargs(case, inputs))
        rec = _recorder_class()(dtype=case.dtype)
        model = k.Model(inp, rec(bn(inp)))
        model.compile(optimizer=k.optimizers.SGD(learning_rate=0.0), loss="mse")
        # Built now, not inside the first train step: a tf.function that creates
        # variables on its first call is traced twice, and tracing is most of fit's cost.
        model.optimizer.build(model.trainable_variables)
        self._models[key] = (model, bn, rec)
        return model, bn, rec

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        k = rt.keras()
        model, bn, rec = self._model(case, inputs)
        ys: list[np.ndarray] = []
        rms: list[np.ndarray] = []
        rvs: list[np.ndarray] = []

        class Steps(k.callbacks.Callback):  # type: ignore[misc,name-defined]
            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                ys.append(rt.to_np(rec.seen).copy())
                rm, rv = statistics(bn)
                rms.append(rm)
                rvs.append(rv)

        tf, size, train = rt.tf(), case.shape[0], inputs["train"]
        x = train.reshape(-1, *case.shape[1:])
        data = tf.data.Dataset.from_tensor_slices((rt.const(x), rt.const(np.zeros_like(x))))
        model.fit(data.batch(size), epochs=1, shuffle=False, verbose=0, callbacks=[Steps()])
        check_path(bn, default_path(case))
        if len(ys) != len(train):
            raise RuntimeError(f"fit took {len(ys)} steps for {len(train)} batches")
        y_eval = model.predict(tf.data.Dataset.from_tensor_slices(rt.const(inputs["eval"]))
                               .batch(size), verbose=0)
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": rt.to_np(y_eval)}


def implementations() -> list[Implementation]:
    return [FitBatchNorm(row("fit"), "batchnorm")]
