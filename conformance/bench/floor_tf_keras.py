"""Floor of the tf_keras rows: the tf_keras (Keras 2) calls the adapter makes, on the
same inputs and as many times, with no suite machinery around them.

Per batch-norm case, each ``BatchNormalization`` variant the adapter runs (the
plain layer; ``fused=False`` where the plain one fuses; ``renorm`` with and
without identity clipping; ``virtual_batch_size=2`` where it divides the
batch) does its eager training steps (forward in a ``GradientTape`` +
gradients), one inference call, a fresh probe layer (forward + gradients) and
a fresh frozen layer; the ``[fit]`` row trains ``Input -> BatchNormalization ->
recorder`` with ``model.fit`` and predicts. Centering cases run the plain layer
without probes; dropout cases call ``Dropout``, the matching
``SpatialDropoutND`` and ``AlphaDropout`` in eval and train mode.

What an expert loop would reuse, and this floor does: one compiled model per
signature (shape, dtype and constructor arguments) for ``fit``, its variables
reset between cases. Eager layers are built per case.
"""

from __future__ import annotations

import time
from typing import Any

T0 = time.perf_counter()
import os  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as k  # noqa: E402

from conformance.bench.floor_io import cases, cases_dir_arg, channel_axis, emit  # noqa: E402

T1 = time.perf_counter()
MODELS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
CLIP = {"rmin": 1.0, "rmax": 1.0, "dmax": 0.0}
SPATIAL = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}


def _kwargs(p: dict[str, Any], x: dict[str, np.ndarray]) -> dict[str, Any]:
    kw: dict[str, Any] = {"axis": 1 if channel_axis(p) == 1 else -1, "dtype": p["dtype"]}
    if p.get("momentum") != "default":
        kw["momentum"] = float(p["momentum"])
    if p.get("epsilon") != "default":
        kw["epsilon"] = float(p["epsilon"])
    if p.get("flags") in ("scale_off", "affine_off"):
        kw["scale"] = False
    if p.get("flags") in ("center_off", "affine_off"):
        kw["center"] = False
    kw["gamma_initializer"] = k.initializers.Constant(x["gamma"].astype(float).tolist())
    kw["beta_initializer"] = k.initializers.Constant(x["beta"].astype(float).tolist())
    return kw


def _fuses(p: dict[str, Any]) -> bool:
    return p["dtype"] in ("float16", "bfloat16", "float32") and len(p["shape"]) in (4, 5)


def _step(layer: Any, xt: Any) -> None:
    with tf.GradientTape() as tape:
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y)
    tape.gradient(loss, layer.trainable_variables)
    y.numpy()


def _direct(p: dict[str, Any], x: dict[str, np.ndarray], extra: dict[str, Any],
            probes: bool) -> int:
    def make(**more: Any) -> Any:
        return k.layers.BatchNormalization(**_kwargs(p, x), **extra, **more)

    layer = make()
    for a in x["train"]:
        _step(layer, tf.constant(a))
        layer.moving_mean.numpy()
        layer.moving_variance.numpy()
    layer(tf.constant(x["eval"]), training=False).numpy()
    if not probes:
        return len(x["train"]) + 1
    x0 = tf.constant(x["train"][0])
    probe = make()
    _step(probe, x0)
    make(trainable=False)(x0, training=True).numpy()
    return len(x["train"]) + 3


class Recorder(k.layers.Layer):  # type: ignore[misc]
    """Identity that keeps the last training output, as the adapter's recorder does."""

    def build(self, input_shape: Any) -> None:
        self.seen = self.add_weight(name="seen", shape=input_shape, dtype=self.dtype,
                                    initializer="zeros", trainable=False)
        super().build(input_shape)

    def call(self, inputs: Any, training: Any = None) -> Any:
        if training is True:
            self.seen.assign(inputs)
        return tf.identity(inputs)


def _fit(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    shape = tuple(p["shape"])
    key = (shape, p["dtype"], channel_axis(p), p.get("momentum"), p.get("epsilon"),
           p.get("flags"))
    if key not in MODELS:
        inp = k.Input(shape=shape[1:], batch_size=shape[0], dtype=p["dtype"])
        bn = k.layers.BatchNormalization(**_kwargs(p, x))
        rec = Recorder(dtype=p["dtype"])
        model = k.Model(inp, rec(bn(inp)))
        model.compile(optimizer=k.optimizers.SGD(learning_rate=0.0), loss="mse")
        # What an expert loop does too: build the optimizer before the first step.
        model.optimizer.build(model.trainable_variables)
        MODELS[key] = (model, bn, rec)
    else:
        model, bn, rec = MODELS[key]
        bn.moving_mean.assign(np.zeros(bn.moving_mean.shape))
        bn.moving_variance.assign(np.ones(bn.moving_variance.shape))
        if bn.scale:
            bn.gamma.assign(x["gamma"].astype(float).reshape(bn.gamma.shape))
        if bn.center:
            bn.beta.assign(x["beta"].astype(float).reshape(bn.beta.shape))
    model, bn, rec = MODELS[key]

    class Steps(k.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            rec.seen.numpy()
            bn.moving_mean.numpy()
            bn.moving_variance.numpy()

    flat = x["train"].reshape(-1, *shape[1:])
    model.fit(tf.constant(flat), tf.constant(np.zeros_like(flat)),
              batch_size=shape[0], epochs=1, shuffle=False, verbose=0, callbacks=[Steps()])
    model.predict(tf.constant(x["eval"]), batch_size=shape[0], verbose=0)
    return 2


def _dropout(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    rate, noise, shape = float(p["rate"]), p.get("noise_shape"), tuple(p["shape"])
    layers = [k.layers.Dropout(rate, dtype=p["dtype"], **({"noise_shape": tuple(noise)}
                                                           if noise is not None else {})),
              k.layers.AlphaDropout(rate, dtype=p["dtype"], **({"noise_shape": tuple(noise)}
                                                                if noise is not None else {}))]
    for name, rank in SPATIAL.items():
        mask = (shape[0], *([1] * (rank - 2)), shape[-1])
        if len(shape) == rank and (noise is None or tuple(noise) == mask):
            layers.append(getattr(k.layers, name)(rate, dtype=p["dtype"]))
    a = tf.constant(x["x"])
    for layer in layers:
        try:
            layer(a, training=False).numpy()
            layer(a, training=True).numpy()
        except ValueError:  # rate 1: the adapter records the same error
            pass
    return 2 * len(layers)


def main() -> None:
    tf.config.threading.set_intra_op_parallelism_threads(1)  # as the adapter does
    tf.config.threading.set_inter_op_parallelism_threads(1)
    calls = n = 0
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        tf.random.set_seed(record["seed"])
        np.random.seed(record["seed"] % 2**32)
        if record["op"] == "dropout":
            calls += _dropout(p, x)
            continue
        if p.get("momentum") == "none" or p.get("flags") == "mean_only":
            continue
        variants: list[dict[str, Any]] = [{}]
        if record["op"] == "batchnorm":
            if _fuses(p):
                variants.append({"fused": False})
            variants += [{"renorm": True}, {"renorm": True, "renorm_clipping": CLIP}]
            if p["shape"][0] % 2 == 0:
                variants.append({"virtual_batch_size": 2})
        for extra in variants:
            try:
                calls += _direct(p, x, extra, probes=record["op"] == "batchnorm")
            except Exception:  # the adapter records the same error
                calls += 1
        if record["op"] == "batchnorm":
            try:
                calls += _fit(p, x)
            except Exception:
                calls += 1
    emit("tf_keras", T0, T1, calls, n)


if __name__ == "__main__":
    main()
