"""Floor of the keras rows: the Keras 3 (TensorFlow backend) calls the adapter makes,
on the same inputs and as many times, with no suite machinery around them.

Per batch-norm case: a ``BatchNormalization`` layer runs its training steps
eagerly (forward in a ``GradientTape`` + gradients), one inference call, then a
fresh probe layer (forward + gradients) and a fresh frozen layer; the ``[fit]``
row trains a one-layer ``Sequential`` with ``model.fit`` and predicts. Centering
cases run the layer with their flags, or the mean-only ``Centering`` recipe.
Dropout cases call ``Dropout`` (and the matching ``SpatialDropoutND``) in train
and eval mode. Unsupported combinations are skipped as the adapter skips them.

What an expert loop would reuse, and this floor does: one compiled model per
signature (shape and constructor arguments) for ``fit``, its variables reset
between cases, because compiling and tracing ``train_function`` is the cost a
careful user pays once. Eager layers are built per case (new layers are how a
fresh probe and a frozen copy are obtained).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

T0 = time.perf_counter()
import os  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from conformance.adapters.keras_recipes import centering_class  # noqa: E402
from conformance.bench.floor_io import cases, cases_dir_arg, channel_axis, emit  # noqa: E402

T1 = time.perf_counter()
FLAGS = {"scale_off": {"scale": False}, "center_off": {"center": False},
         "affine_off": {"center": False, "scale": False}}
SPATIAL = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}
MODELS: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _kwargs(p: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {"axis": channel_axis(p), "dtype": p["dtype"]}
    if p.get("momentum") != "default":
        kw["momentum"] = float(p["momentum"])
    if p.get("epsilon") != "default":
        kw["epsilon"] = float(p["epsilon"])
    kw.update(FLAGS.get(str(p.get("flags")), {}))
    return kw


def _affine(layer: Any, x: dict[str, np.ndarray]) -> None:
    for name in ("gamma", "beta"):
        v = getattr(layer, name, None)
        if v is not None:
            v.assign(x[name].astype(v.dtype))


def _direct(make: Any, p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    def fresh() -> Any:
        layer = make()
        layer.build(tuple(p["shape"]))
        _affine(layer, x)
        return layer

    def step(layer: Any, a: np.ndarray) -> Any:
        xt = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=True)
            loss = tf.reduce_sum(y)
        tape.gradient(loss, [xt, *layer.trainable_weights])
        return y

    layer = fresh()
    for a in x["train"]:
        step(layer, a).numpy()
        layer.moving_mean.numpy()
    layer(x["eval"], training=False).numpy()
    probe = fresh()
    step(probe, x["train"][0])
    frozen = fresh()
    frozen.trainable = False
    frozen(x["train"][0], training=True).numpy()
    return len(x["train"]) + 3


class LastOutput(keras.metrics.Metric):  # type: ignore[misc]
    """Keeps y_pred of the last step, as the adapter's metric does."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        super().__init__(name="last_output", dtype=dtype)
        self.value = self.add_variable(shape=shape, initializer="zeros", dtype=dtype,
                                       name="value")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.value.assign(keras.ops.cast(y_pred, self.value.dtype))

    def result(self) -> Any:
        return keras.ops.sum(self.value) * 0


def _fit(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    shape, dtype, kw = tuple(p["shape"]), str(p["dtype"]), _kwargs(p)
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        key = (shape, tuple(sorted(kw.items())))
        if key not in MODELS:
            layer = keras.layers.BatchNormalization(**kw)
            model = keras.Sequential([keras.Input(shape=shape[1:], dtype=dtype), layer])
            probe = LastOutput(shape, dtype)
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse",
                          metrics=[probe])
            # What an expert loop does too: build the optimizer before the first step.
            model.optimizer.build(model.trainable_variables)
            MODELS[key] = (model, layer, probe)
        model, layer, probe = MODELS[key]
        layer.moving_mean.assign(np.zeros(shape[kw["axis"]], layer.moving_mean.dtype))
        layer.moving_variance.assign(np.ones(shape[kw["axis"]], layer.moving_variance.dtype))
        _affine(layer, x)

        def record(batch: int, logs: Any) -> None:
            probe.value.numpy()
            layer.moving_mean.numpy()
            layer.moving_variance.numpy()

        flat = x["train"].reshape(-1, *shape[1:])
        data = tf.data.Dataset.from_tensor_slices((flat, np.zeros_like(flat))).batch(shape[0])
        model.fit(data, epochs=1, verbose=0, shuffle=False,
                  callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=record)])
        model.predict(tf.data.Dataset.from_tensor_slices(x["eval"]).batch(shape[0]), verbose=0)
    finally:
        keras.config.set_floatx(old)
    return 2


def _dropout(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    rate, dtype, a, calls = float(p["rate"]), p["dtype"], x["x"], 0
    noise = p.get("noise_shape")
    layers = [keras.layers.Dropout(rate, noise_shape=noise, dtype=dtype)]
    for name, rank in SPATIAL.items():
        shape = tuple(p["shape"])
        mask = (shape[0], *([1] * (rank - 2)), shape[-1])
        if len(shape) == rank and noise is not None and tuple(noise) == mask:
            extra = {} if name.endswith("1D") else {"data_format": "channels_last"}
            layers.append(getattr(keras.layers, name)(rate, dtype=dtype, **extra))
    for layer in layers:
        try:
            layer(a, training=True).numpy()
            layer(a, training=False).numpy()
        except ValueError:  # rate 1: the adapter records the same error
            pass
        calls += 2
    return calls


def main() -> None:
    tf.config.threading.set_intra_op_parallelism_threads(1)  # as the adapter does
    tf.config.threading.set_inter_op_parallelism_threads(1)
    calls = n = 0
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        keras.utils.set_random_seed(record["seed"] % 2**32)
        if record["op"] == "dropout":
            calls += _dropout(p, x)
            continue
        if p.get("momentum") == "none":
            continue
        runs: list[Any] = []
        if p.get("flags") == "mean_only":
            if record["op"] == "centering":
                kw = {"axis": channel_axis(p), "dtype": p["dtype"]}
                if p.get("momentum") != "default":
                    kw["momentum"] = float(p["momentum"])
                runs.append(partial(_direct, partial(centering_class(), **kw), p, x))
        else:
            runs.append(partial(_direct, partial(keras.layers.BatchNormalization,
                                                 **_kwargs(p)), p, x))
            if record["op"] == "batchnorm":
                runs.append(partial(_fit, p, x))
        for run in runs:
            try:
                calls += run()
            except Exception:  # the adapter records the same error
                calls += 1
    emit("keras", T0, T1, calls, n)


if __name__ == "__main__":
    main()
