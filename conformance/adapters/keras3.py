"""Keras 3 on the TensorFlow backend: BatchNormalization, Dropout, SpatialDropout, centering.

Two paths through ``keras.layers.BatchNormalization`` get their own rows:

* the direct call (``layer(x, training=True)``), eager, as in a custom training
  loop; a training step is the forward pass inside a ``GradientTape`` and
  ``tape.gradient`` (no optimizer update, so gamma and beta stay put);
* ``[fit]``: the layer inside a one-layer ``keras.Sequential`` trained by
  ``model.fit`` (SGD with learning rate 0, ``batch_size`` = the case batch,
  ``shuffle=False``, one step per training batch) and evaluated by
  ``model.predict``; ``y_train`` is captured by a metric that stores ``y_pred``.
  Data goes in as a ``tf.data.Dataset``: given arrays, ``fit`` casts every float
  array that is not ``floatx`` to ``floatx``
  (keras/src/trainers/data_adapters/array_slicing.py, "Normalize floats to
  floatx"). The row also sets ``keras.config.set_floatx(case.dtype)`` while it
  runs, as a user training a float64 model does.

Layers are built with ``dtype=case.dtype`` (the Keras dtype policy), because a
float32 layer would silently cast float64 input to float32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.adapters._tf_common import (
    apply_deferred_seed,
    defer_seed,
    quiet_tensorflow,
    seed_tensorflow,
)
from conformance.adapters.base import (
    RECIPE_CENTERING,
    RECIPE_PREFIX,
    Adapter,
    DocClaim,
    Implementation,
    Outputs,
    Unsupported,
    channel_mask_shape,
)
from conformance.adapters.documented import signature_default, verified_claims
from conformance.cases.model import Case

BN = "keras.layers.BatchNormalization"
CENTERING = f"{RECIPE_PREFIX}keras.Centering"  # the suite's recipe (keras_recipes.py)
DROPOUT = "keras.layers.Dropout"
# Spatial dropout layer -> input rank. They drop whole channels (channels-last here),
# i.e. a mask of shape (batch, 1, ..., 1, channels).
SPATIAL = {"keras.layers.SpatialDropout1D": 3, "keras.layers.SpatialDropout2D": 4,
           "keras.layers.SpatialDropout3D": 5}
_FLAG_ARGS: dict[str, dict[str, bool]] = {
    "scale_off": {"scale": False}, "center_off": {"center": False},
    "affine_off": {"center": False, "scale": False},
}


def _keras() -> Any:
    import keras

    return keras


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _bn_kwargs(case: Case) -> dict[str, Any]:
    """Constructor arguments for the case: axis, momentum, epsilon and centering flags."""
    kwargs: dict[str, Any] = {"axis": case.channel_axis, "dtype": case.dtype}
    momentum, epsilon = case.get("momentum"), case.get("epsilon")
    if momentum == "none":
        raise Unsupported("Keras has no cumulative-average momentum")
    if momentum != "default":
        kwargs["momentum"] = float(momentum)  # type: ignore[arg-type]
    if epsilon != "default":
        kwargs["epsilon"] = float(epsilon)  # type: ignore[arg-type]
    flags = case.get("flags")
    if flags is not None:
        if flags == "mean_only":
            raise Unsupported("BatchNormalization always divides by the standard deviation")
        kwargs.update(_FLAG_ARGS[str(flags)])
    return kwargs


def _flag_qualifier(case: Case) -> str:
    args = _FLAG_ARGS.get(str(case.get("flags")), {})
    return ",".join(f"{k}=False" for k in sorted(args))


def _set_affine(layer: Any, inputs: Mapping[str, np.ndarray]) -> None:
    """Load the case's gamma and beta into whichever of the two the layer has."""
    if getattr(layer, "gamma", None) is not None:
        layer.gamma.assign(inputs["gamma"].astype(layer.gamma.dtype))
    if getattr(layer, "beta", None) is not None:
        layer.beta.assign(inputs["beta"].astype(layer.beta.dtype))


def _running(layer: Any) -> tuple[np.ndarray, np.ndarray | None]:
    var = getattr(layer, "moving_variance", None)
    return _np(layer.moving_mean).copy(), None if var is None else _np(var).copy()


class _Snapshot:
    """The values of a built layer's variables, to put the layer back in that state."""

    def __init__(self, layer: Any) -> None:
        self._pairs = [(v, _np(v).copy()) for v in layer.variables]

    def restore(self) -> None:
        for variable, value in self._pairs:
            variable.assign(value)


class DirectBatchNorm(Implementation):
    """``BatchNormalization`` (or the Centering recipe) called eagerly with ``training=``."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return RECIPE_CENTERING if self.name == CENTERING else frozenset()

    def qualify(self, case: Case) -> str:
        q = _flag_qualifier(case)
        return f"{self.name}[{q}]" if q and self.name == BN else self.name

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "Keras has no cumulative-average momentum"
        if self.name == CENTERING and case.get("flags") != "mean_only":
            return "the mean-only recipe runs only mean_only cases"
        if self.name == BN and case.get("flags") == "mean_only":
            return "BatchNormalization always divides by the standard deviation"
        return None

    def _make(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        if self.name == CENTERING:
            from conformance.adapters.keras_recipes import centering_class

            momentum = case.get("momentum")
            if momentum == "none":
                raise Unsupported("the recipe has no cumulative-average option")
            kwargs: dict[str, Any] = {"axis": case.channel_axis, "dtype": case.dtype}
            if momentum != "default":
                kwargs["momentum"] = float(momentum)  # type: ignore[arg-type]
            layer = centering_class()(**kwargs)
        else:
            layer = _keras().layers.BatchNormalization(**_bn_kwargs(case))
        layer.build(case.shape)
        _set_affine(layer, inputs)
        return layer

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        import tensorflow as tf

        train = inputs["train"]
        layer = self._make(case, inputs)
        fresh = _Snapshot(layer)
        ys, rms, rvs = [], [], []
        for x in train:
            ys.append(_np(_step(tf, layer, x)))
            rm, rv = _running(layer)
            rms.append(rm)
            if rv is not None:
                rvs.append(rv)
        out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                        "y_eval": _np(layer(inputs["eval"], training=False))}
        if rvs:
            out["running_var"] = np.stack(rvs)
        # The probes need a fresh layer: the same one with its variables put back
        # (constructing and building a new layer costs more than the probe).
        fresh.restore()
        x0 = tf.constant(train[0])
        with tf.GradientTape() as tape:
            tape.watch(x0)
            loss = tf.reduce_sum(layer(x0, training=True))
        out["mean_after_forward"] = _running(layer)[0]
        tape.gradient(loss, [x0, *layer.trainable_weights])
        out["mean_after_backward"] = _running(layer)[0]
        fresh.restore()
        layer.trainable = False
        out["frozen_train"] = _np(layer(train[0], training=True))
        return out


def _step(tf: Any, layer: Any, x: np.ndarray) -> Any:
    """A custom-loop training step: forward in a tape, then the gradients (not applied)."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y)
    tape.gradient(loss, [xt, *layer.trainable_weights])
    return y


@functools.cache
def _output_probe_class() -> Any:
    """A metric that keeps the model's last training-step output, so the ``[fit]`` row
    can report ``y_train``: ``fit`` exposes only losses and metrics, and a metric
    sees ``y_pred`` exactly as the compiled train step computed it."""
    keras = _keras()

    class LastOutput(keras.metrics.Metric):  # type: ignore[misc,name-defined]
        def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
            super().__init__(name="last_output", dtype=dtype)
            self.value = self.add_variable(shape=shape, initializer="zeros", dtype=dtype,
                                           name="value")

        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
            self.value.assign(keras.ops.cast(y_pred, self.value.dtype))

        def result(self) -> Any:
            return keras.ops.sum(self.value) * 0

    return LastOutput


@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    keras = _keras()
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


class FitBatchNorm(Implementation):
    """``BatchNormalization`` trained by ``model.fit`` and evaluated by ``model.predict``.

    Compiled models are cached by signature (shape, dtype, arguments) and their
    state reset between cases: compiling and tracing ``train_function`` costs
    far more than the case itself.
    """

    def __init__(self, name: str, op: str) -> None:
        super().__init__(name, op)
        self._models: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}

    def qualify(self, case: Case) -> str:
        return self.name

    def supports(self, case: Case) -> str | None:
        return "Keras has no cumulative-average momentum" if case.get("momentum") == "none" \
            else None

    def _model(self, case: Case) -> tuple[Any, Any, Any]:
        keras = _keras()
        kwargs = _bn_kwargs(case)
        key = (case.shape, tuple(sorted(kwargs.items())))
        if key not in self._models:
            layer = keras.layers.BatchNormalization(**kwargs)
            model = keras.Sequential([keras.Input(shape=case.shape[1:], dtype=case.dtype),
                                      layer])
            probe = _output_probe_class()(case.shape, case.dtype)
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse",
                          metrics=[probe])
            # Built here rather than on the first train step, which would then trace
            # its function once more; the optimizer state is the same either way.
            model.optimizer.build(model.trainable_variables)
            self._models[key] = (model, layer, probe)
        return self._models[key]

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        import tensorflow as tf

        keras = _keras()
        size, train = case.shape[0], inputs["train"]
        with _floatx(case.dtype):
            model, layer, probe = self._model(case)
            layer.moving_mean.assign(np.zeros(case.channels, layer.moving_mean.dtype))
            layer.moving_variance.assign(np.ones(case.channels, layer.moving_variance.dtype))
            _set_affine(layer, inputs)
            ys: list[np.ndarray] = []
            rms: list[np.ndarray] = []
            rvs: list[np.ndarray] = []

            def record(batch: int, logs: Any) -> None:  # keras calls it with these names
                ys.append(_np(probe.value).copy())
                rms.append(_np(layer.moving_mean).copy())
                rvs.append(_np(layer.moving_variance).copy())

            # All training batches in order, one fit step each; statistics are read
            # after every step. A tf.data pipeline (rather than arrays) keeps fit
            # from re-tracing its input functions on every call.
            flat = train.reshape(-1, *case.shape[1:])
            data = tf.data.Dataset.from_tensor_slices((flat, np.zeros_like(flat))).batch(size)
            model.fit(data, epochs=1, verbose=0, shuffle=False,
                      callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=record)])
            y_eval = model.predict(tf.data.Dataset.from_tensor_slices(inputs["eval"])
                                   .batch(size), verbose=0)
        if len(rms) != len(train):
            raise RuntimeError(f"fit ran {len(rms)} steps for {len(train)} batches")
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": np.asarray(y_eval)}


class KerasDropout(Implementation):
    """``Dropout`` (any rank, ``noise_shape``) and ``SpatialDropout1D/2D/3D``."""

    def mask_shape(self, case: Case) -> tuple[int, ...] | None:
        """``Dropout`` follows ``noise_shape``; the spatial layers always drop whole
        channels ("drops entire 1D feature maps", channels last here)."""
        return channel_mask_shape(case.shape) if self.name in SPATIAL else \
            super().mask_shape(case)

    def supports(self, case: Case) -> str | None:
        rank = SPATIAL.get(self.name)
        if rank is None:
            return None
        shape = case.shape
        if len(shape) != rank or case.get("noise_shape") != channel_mask_shape(shape):
            return (f"{self.name} drops whole channels of rank-{rank} channels-last input: "
                    f"it runs only cases with noise_shape (batch, 1..., channels)")
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        apply_deferred_seed()
        keras = _keras()
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        x = inputs["x"]
        if self.name == DROPOUT:
            noise = case.get("noise_shape")
            layer = keras.layers.Dropout(rate, noise_shape=noise, dtype=case.dtype)
        else:
            cls = getattr(keras.layers, self.name.rsplit(".", 1)[1])
            extra = {} if self.name.endswith("1D") else {"data_format": "channels_last"}
            layer = cls(rate, dtype=case.dtype, **extra)
        return {"y_train": _np(layer(x, training=True)), "y_eval": _np(layer(x, training=False))}


def _seed_now(seed: int) -> None:
    # keras.utils.set_random_seed also seeds Python's `random`, which a
    # SeedGenerator(seed=None) draws its seed from when a layer is built.
    seed_tensorflow(seed)
    _keras().utils.set_random_seed(seed)


class KerasAdapter(Adapter):
    framework = "keras"

    def load(self) -> None:
        import os

        os.environ["KERAS_BACKEND"] = "tensorflow"
        quiet_tensorflow(also=("keras",))
        keras = _keras()
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, not tensorflow")

    def version(self) -> str:
        return str(_keras().__version__)

    def implementations(self) -> Sequence[Implementation]:
        return [
            DirectBatchNorm(BN, "batchnorm"),
            # Its own name: the loader keys results by (case, name, op).
            FitBatchNorm(f"{BN}[fit]", "batchnorm"),
            DirectBatchNorm(BN, "centering"),
            DirectBatchNorm(CENTERING, "centering"),
            KerasDropout(DROPOUT, "dropout"),
            *(KerasDropout(name, "dropout") for name in SPATIAL),
        ]

    def documented(self) -> list[DocClaim]:
        keras = _keras()
        claims = [signature_default(BN, keras.layers.BatchNormalization, param, behaviour)
                  for param, behaviour in (("momentum", "momentum_default"),
                                           ("epsilon", "epsilon_default"))]
        return [c for c in claims if c is not None] + verified_claims("keras")

    def seed(self, seed: int) -> None:
        """Done by the next dropout row, the only rows that draw random numbers
        (see ``_tf_common.defer_seed``)."""
        defer_seed(functools.partial(_seed_now, seed))

    def environment(self) -> dict[str, str]:
        import tensorflow as tf

        return {"device": "cpu", "backend": _keras().backend.backend(),
                "tensorflow": str(tf.__version__)}
