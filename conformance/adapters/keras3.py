"""Keras 3 on its TensorFlow, JAX and PyTorch backends: BatchNormalization, Dropout,
SpatialDropout, centering, and the ``keras.ops`` forms.

Keras picks its backend once, at import (``KERAS_BACKEND``), so each backend is its
own worker and framework: ``keras`` (TensorFlow), ``keras_jax`` and ``keras_torch``.
The rows are the same code on every backend; what differs is the training step,
which is written the way each backend's custom training loop writes it:

* TensorFlow: the forward pass inside a ``tf.GradientTape``, then ``tape.gradient``;
* JAX: ``jax.value_and_grad`` of ``layer.stateless_call`` (the layer's variables
  passed in and the updated non-trainable ones returned, then assigned), as in
  Keras's "writing a training loop from scratch in JAX" guide. The forward/backward
  probes call the layer eagerly (a stateful forward) and then take ``jax.grad`` of
  the stateless call, which cannot assign anything. float64 cases run inside
  ``jax.enable_x64(True)``: without it JAX has no float64 and Keras would silently
  compute in float32;
* PyTorch: the forward on a ``requires_grad`` tensor, then ``loss.backward()``.

No step applies the gradients (no optimizer update), so gamma and beta stay put.

Two paths through ``keras.layers.BatchNormalization`` get their own rows:

* the direct call (``layer(x, training=True)``), eager, as in a custom training
  loop, with the backend's training step above;
* ``[fit]``: the layer inside a one-layer ``keras.Sequential`` trained by
  ``model.fit`` (SGD with learning rate 0, ``batch_size`` = the case batch,
  ``shuffle=False``, one step per training batch) and evaluated by
  ``model.predict``; ``y_train`` is captured by a metric that stores ``y_pred``.
  On TensorFlow data goes in as a ``tf.data.Dataset``: given arrays, ``fit`` casts every float
  array that is not ``floatx`` to ``floatx``
  (keras/src/trainers/data_adapters/array_slicing.py, "Normalize floats to
  floatx"). The row also sets ``keras.config.set_floatx(case.dtype)`` while it
  runs, as a user training a float64 model does.

On JAX and PyTorch ``[fit]`` takes the arrays themselves (``batch_size`` = the
case batch), as users of those backends do; ``set_floatx(case.dtype)`` keeps fit
from casting them.

``keras.ops.batch_normalization`` is the low-level recipe written from the ops
reference, as ``tf.nn.batch_normalization`` is for TensorFlow: ``keras.ops.moments``
for the batch statistics and a caller-kept EMA (decay 0.99 and epsilon 1e-3, the
layer's defaults, for ``"default"`` cases), forward only (its training step has
nothing to differentiate that could change a statistic). What the recipe decides is
declared in ``recipe_behaviours``; the moments and the normalization are Keras's.

Layers are built with ``dtype=case.dtype`` (the Keras dtype policy), because a
float32 layer would silently cast float64 input to float32. Off TensorFlow the layer
still computes float64 input in float32 (Keras's type promotion; see
``_float64_qualifier``), so there float64 cases are their own ``[float64]`` rows.
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
    Portable,
    Unsupported,
    Variable,
    channel_mask_shape,
    hyperparameter_kwargs,
    momentum_epsilon_kwargs,
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


def _backend() -> str:
    return str(_keras().backend.backend())


def _np(t: Any) -> np.ndarray:
    if hasattr(t, "value") and hasattr(t, "assign"):  # a keras.Variable
        t = t.value
    if hasattr(t, "detach"):  # a torch tensor (maybe requiring grad)
        t = t.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":  # NumPy has no bfloat16; float32 is exact
            t = t.float()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


@contextlib.contextmanager
def _precision(case: Case) -> Iterator[None]:
    """float64 on JAX needs its x64 mode (see the module docstring)."""
    if case.dtype == "float64" and _backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


class _KerasRow(Implementation):
    """A row whose ``_run`` runs in the precision mode the case needs."""

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        with _precision(case):
            return self._run(case, inputs)

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        raise NotImplementedError


def _bn_kwargs(case: Case) -> dict[str, Any]:
    """Constructor arguments for the case: axis, momentum, epsilon and centering flags."""
    kwargs: dict[str, Any] = {"axis": case.channel_axis, "dtype": case.dtype}
    kwargs.update(hyperparameter_kwargs(case, "Keras"))
    flags = case.get("flags")
    if flags is not None:
        if flags == "mean_only":
            raise Unsupported("BatchNormalization always divides by the standard deviation")
        kwargs.update(_FLAG_ARGS[str(flags)])
    return kwargs


def _flag_qualifier(case: Case) -> str:
    args = _FLAG_ARGS.get(str(case.get("flags")), {})
    return ",".join(f"{k}=False" for k in sorted(args))


def _float64_qualifier(case: Case) -> str:
    """``float64`` where the layer computes float64 input in float32: on every backend but
    TensorFlow. ``BatchNormalization.call`` casts its input to
    ``backend.result_type(inputs.dtype, "float32")`` (and ``keras.ops.mean``, which the
    Centering recipe uses, computes in that type), and Keras's type promotion maps a
    float64 result to float32 unless the backend is TensorFlow ("Force to be 32-bit
    dtype when encountering 64-bit dtype. This is to be aligned with JAX's default
    behavior", keras/src/backend/common/dtypes.py:235-241 and :276-278 at v3.15.1). That
    path is its own row, as Flax's float64 path is, so the float32 cases alone measure
    the conventions of the plain row."""
    return "float64" if case.dtype == "float64" and _backend() != "tensorflow" else ""


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


class DirectBatchNorm(_KerasRow):
    """``BatchNormalization`` (or the Centering recipe) called eagerly with ``training=``."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return RECIPE_CENTERING if self.name == CENTERING else frozenset()

    def qualify(self, case: Case) -> str:
        flags = _flag_qualifier(case) if self.name == BN else ""
        q = [q for q in (flags, _float64_qualifier(case)) if q]
        return f"{self.name}[{','.join(q)}]" if q else self.name

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "Keras has no cumulative-average momentum"
        if self.name == CENTERING and case.get("flags") != "mean_only":
            return "the mean-only recipe runs only mean_only cases"
        if self.name == BN and case.get("flags") == "mean_only":
            return "BatchNormalization always divides by the standard deviation"
        return None

    def portable(self) -> Portable | None:
        return KerasPort() if self.name == BN and self.op == "batchnorm" else None

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

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        train = inputs["train"]
        layer = self._make(case, inputs)
        fresh = _Snapshot(layer)
        ys, rms, rvs = [], [], []
        for x in train:
            ys.append(_np(_step(layer, x)))
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
        out["mean_after_forward"], out["mean_after_backward"] = _probe(layer, train[0])
        fresh.restore()
        layer.trainable = False
        out["frozen_train"] = _np(layer(train[0], training=True))
        return out


# Variable names of BatchNormalization -> the role each plays.
_ROLES = {"gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
          "moving_variance": "running_var"}


class KerasPort(Portable):
    """``keras.layers.BatchNormalization`` variable IO on the worker's backend (every call
    goes through the layer and ``keras.ops``-level steps, so all three backends share it)."""

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        return {"axis": channel_axis,
                **momentum_epsilon_kwargs(momentum, epsilon, "Keras")}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        layer = _keras().layers.BatchNormalization(**arguments, dtype=dtype)
        layer.build(shape)
        return layer

    def read(self, layer: Any) -> list[Variable]:
        return [Variable(_ROLES.get(v.name, v.name), v.name, _np(v).copy())
                for v in layer.variables]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        for v in layer.variables:
            role = _ROLES.get(v.name)
            if role is not None and role in values:
                v.assign(np.asarray(values[role]).astype(v.dtype).reshape(v.shape))

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _np(layer(x, training=False)).copy()

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _np(_step(layer, x)).copy()

    def row(self, layer: Any) -> str:
        return BN


def _step(layer: Any, x: np.ndarray) -> Any:
    """A custom-loop training step on the worker's backend: forward and the gradients
    with respect to the input and the trainable weights (not applied)."""
    backend = _backend()
    if backend == "jax":
        return _jax_step(layer, x)
    if backend == "torch":
        import torch

        xt = torch.from_numpy(np.array(x)).requires_grad_(True)
        y = layer(xt, training=True)
        y.sum().backward()
        return y
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y)
    tape.gradient(loss, [xt, *layer.trainable_weights])
    return y


def _jax_loss(layer: Any, non_trainable: list[Any]) -> Any:
    """``sum(layer(x))`` as a pure function of (trainable values, x), returning the
    output and the updated non-trainable values as auxiliary data."""
    import jax.numpy as jnp

    def loss(trainable: list[Any], x: Any) -> tuple[Any, tuple[Any, Any]]:
        y, new_non_trainable = layer.stateless_call(trainable, non_trainable, x, training=True)
        return jnp.sum(y), (y, new_non_trainable)

    return loss


def _jax_step(layer: Any, x: np.ndarray) -> Any:
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    grad = jax.value_and_grad(_jax_loss(layer, non_trainable), argnums=(0, 1), has_aux=True)
    (_, (y, new_non_trainable)), _ = grad(trainable, jnp.asarray(x))
    for variable, value in zip(layer.non_trainable_variables, new_non_trainable, strict=True):
        variable.assign(value)
    return y


def _probe(layer: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running mean of a fresh layer after one training-mode forward on ``x``, and
    after that forward and a backward pass."""
    backend = _backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        layer(x, training=True)  # the eager (stateful) forward
        after_forward = _running(layer)[0]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        jax.grad(_jax_loss(layer, non_trainable), argnums=(0, 1), has_aux=True)(
            [v.value for v in layer.trainable_variables], jnp.asarray(x))
        return after_forward, _running(layer)[0]
    if backend == "torch":
        import torch

        xt = torch.from_numpy(np.array(x)).requires_grad_(True)
        loss = layer(xt, training=True).sum()
        after_forward = _running(layer)[0]
        loss.backward()
        return after_forward, _running(layer)[0]
    import tensorflow as tf

    x0 = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x0)
        loss = tf.reduce_sum(layer(x0, training=True))
    after_forward = _running(layer)[0]
    tape.gradient(loss, [x0, *layer.trainable_weights])
    return after_forward, _running(layer)[0]


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


class FitBatchNorm(_KerasRow):
    """``BatchNormalization`` trained by ``model.fit`` and evaluated by ``model.predict``.

    Compiled models are cached by signature (shape, dtype, arguments) and their
    state reset between cases: compiling and tracing ``train_function`` costs
    far more than the case itself.
    """

    def __init__(self, name: str, op: str) -> None:
        super().__init__(name, op)
        self._models: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}

    def qualify(self, case: Case) -> str:
        q = _float64_qualifier(case)
        return f"{self.name[:-1]},{q}]" if q else self.name

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

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
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
                # JAX's fit keeps the variables' values outside them while it trains
                # (keras/src/backend/jax/trainer.py, _purge_model_variables); a callback
                # that reads them puts them back first, as that trainer expects.
                if hasattr(model, "jax_state_sync"):
                    model.jax_state_sync()
                ys.append(_np(probe.value).copy())
                rms.append(_np(layer.moving_mean).copy())
                rvs.append(_np(layer.moving_variance).copy())

            # All training batches in order, one fit step each; statistics are read
            # after every step. A tf.data pipeline (rather than arrays) keeps fit
            # from re-tracing its input functions on every call.
            flat = train.reshape(-1, *case.shape[1:])
            callbacks = [keras.callbacks.LambdaCallback(on_train_batch_end=record)]
            if _backend() == "tensorflow":
                import tensorflow as tf

                data = tf.data.Dataset.from_tensor_slices((flat, np.zeros_like(flat)))
                model.fit(data.batch(size), epochs=1, verbose=0, shuffle=False,
                          callbacks=callbacks)
                y_eval = model.predict(tf.data.Dataset.from_tensor_slices(inputs["eval"])
                                       .batch(size), verbose=0)
            else:  # no tf.data without TensorFlow: the arrays, as JAX/torch users pass them
                model.fit(flat, np.zeros_like(flat), batch_size=size, epochs=1, verbose=0,
                          shuffle=False, callbacks=callbacks)
                y_eval = model.predict(inputs["eval"], batch_size=size, verbose=0)
        if len(rms) != len(train):
            raise RuntimeError(f"fit ran {len(rms)} steps for {len(train)} batches")
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": np.asarray(y_eval)}


class KerasDropout(_KerasRow):
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

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
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


OPS_BN = "keras.ops.batch_normalization"
OPS_DEFAULTS = {"decay": 0.99, "epsilon": 1e-3}  # the layer's defaults; the op has no momentum
# What the recipe, not Keras, decides (as for tf.nn.batch_normalization): the op has no
# momentum and no running statistics, so the EMA, when it runs and what inference
# normalizes with are the recipe's; so is the epsilon of "default" cases (the op's own
# default is 1e-3 too, but the recipe passes it). Normalization (epsilon placement,
# gamma, keras.ops.moments' variance and its precision) is Keras's.
OPS_RECIPE_BEHAVIOURS = frozenset({
    "momentum_default", "momentum_convention", "epsilon_default", "running_variance_update",
    "stats_update_trigger", "inference_statistics", "momentum_precision"})
_OPS_FLAGS = {"scale_off": ("scale",), "center_off": ("offset",),
              "affine_off": ("offset", "scale")}


class OpsBatchNorm(_KerasRow):
    """``keras.ops.moments`` + ``keras.ops.batch_normalization`` with a caller-kept EMA."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return OPS_RECIPE_BEHAVIOURS

    def qualify(self, case: Case) -> str:
        off = _OPS_FLAGS.get(str(case.get("flags")), ())
        return f"{self.name}[{','.join(f'{k}=None' for k in off)}]" if off else self.name

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "the recipe's EMA has no cumulative-average option"
        if case.get("flags") == "mean_only":
            return "keras.ops.batch_normalization always divides by the standard deviation"
        return None

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        from conformance.oracle.batchnorm import reduce_axes

        ops = _keras().ops
        momentum, epsilon = case.get("momentum"), case.get("epsilon")
        decay = OPS_DEFAULTS["decay"] if momentum == "default" else float(momentum)  # type: ignore[arg-type]
        eps = OPS_DEFAULTS["epsilon"] if epsilon == "default" else float(epsilon)  # type: ignore[arg-type]
        axes = list(reduce_axes(len(case.shape), case.channel_axis))
        off = _OPS_FLAGS.get(str(case.get("flags")), ())

        def tensor(a: np.ndarray) -> Any:  # bfloat16 arrives as float32
            return ops.cast(ops.convert_to_tensor(np.asarray(a)), case.dtype)

        scale = None if "scale" in off else tensor(inputs["gamma"])
        offset = None if "offset" in off else tensor(inputs["beta"])

        def normalize(x: Any, mean: Any, var: Any) -> Any:
            return ops.batch_normalization(x, mean, var, axis=case.channel_axis,
                                           offset=offset, scale=scale, epsilon=eps)

        rm = ops.zeros((case.channels,), case.dtype)
        rv = ops.ones((case.channels,), case.dtype)
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            xt = tensor(x)
            mean, var = ops.moments(xt, axes=axes)
            ys.append(_np(normalize(xt, mean, var)))
            rm = rm * decay + mean * (1 - decay)
            rv = rv * decay + var * (1 - decay)
            rms.append(_np(rm))
            rvs.append(_np(rv))
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs),
                "y_eval": _np(normalize(tensor(inputs["eval"]), rm, rv))}


def _seed_now(seed: int) -> None:
    # keras.utils.set_random_seed also seeds Python's `random`, which a
    # SeedGenerator(seed=None) draws its seed from when a layer is built, and NumPy
    # and the backend's own generator (torch.manual_seed on torch).
    if _backend() == "tensorflow":
        seed_tensorflow(seed)
    _keras().utils.set_random_seed(seed)


class KerasAdapter(Adapter):
    """Keras 3 on the backend named by ``backend``; each backend is its own framework."""

    framework = "keras"
    backend = "tensorflow"

    def load(self) -> None:
        import os

        os.environ["KERAS_BACKEND"] = self.backend
        self._import_backend()
        keras = _keras()
        if keras.backend.backend() != self.backend:
            raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, "
                               f"not {self.backend} (keras was imported before load())")

    def _import_backend(self) -> None:
        quiet_tensorflow(also=("keras",))

    def version(self) -> str:
        return str(_keras().__version__)

    def implementations(self) -> Sequence[Implementation]:
        return [
            DirectBatchNorm(BN, "batchnorm"),
            # Its own name: the loader keys results by (case, name, op).
            FitBatchNorm(f"{BN}[fit]", "batchnorm"),
            OpsBatchNorm(OPS_BN, "batchnorm"),
            DirectBatchNorm(BN, "centering"),
            OpsBatchNorm(OPS_BN, "centering"),
            DirectBatchNorm(CENTERING, "centering"),
            KerasDropout(DROPOUT, "dropout"),
            *(KerasDropout(name, "dropout") for name in SPATIAL),
        ]

    def documented(self) -> list[DocClaim]:
        keras = _keras()
        claims = [signature_default(BN, keras.layers.BatchNormalization, param, behaviour)
                  for param, behaviour in (("momentum", "momentum_default"),
                                           ("epsilon", "epsilon_default"))]
        return [c for c in claims if c is not None] + verified_claims(self.framework)

    def seed(self, seed: int) -> None:
        """Done by the next dropout row, the only rows that draw random numbers
        (see ``_tf_common.defer_seed``)."""
        defer_seed(functools.partial(_seed_now, seed))

    def environment(self) -> dict[str, str]:
        import tensorflow as tf

        return {"device": "cpu", "backend": _keras().backend.backend(),
                "tensorflow": str(tf.__version__)}


class KerasJaxAdapter(KerasAdapter):
    """Keras 3 on JAX (CPU)."""

    framework = "keras_jax"
    backend = "jax"

    def _import_backend(self) -> None:
        import os

        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax

        if jax.default_backend() != "cpu":
            raise RuntimeError(f"JAX backend is {jax.default_backend()!r}, not cpu")

        from conformance.cache import use_jax_compilation_cache

        use_jax_compilation_cache()  # the eager steps compile each primitive per shape

    def environment(self) -> dict[str, str]:
        import jax

        return {"device": "cpu", "backend": _backend(), "jax": str(jax.__version__),
                "float64": "jax.enable_x64(True) around float64 cases"}


class KerasTorchAdapter(KerasAdapter):
    """Keras 3 on PyTorch (CPU)."""

    framework = "keras_torch"
    backend = "torch"

    def _import_backend(self) -> None:
        import torch

        torch.set_num_threads(1)  # deterministic reductions; frameworks run side by side

    def environment(self) -> dict[str, str]:
        import torch

        return {"device": "cpu", "backend": _backend(),
                "torch": str(torch.__version__).split("+")[0]}
