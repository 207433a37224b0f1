"""Flax on JAX: ``flax.linen`` and ``flax.nnx`` BatchNorm and Dropout.

On the CPU, or on a CUDA GPU with ``--device cuda`` (JAX's default device).

How each row is driven, as a training loop drives it:

* ``flax.linen.BatchNorm``: ``init`` once, then the case's gamma and beta written into
  the ``params`` collection (``scale``, ``bias``); a training step is one jitted
  ``jax.value_and_grad`` over the params of ``sum(apply(variables, x,
  use_running_average=False, mutable=["batch_stats"]))`` with the returned
  ``batch_stats`` as the auxiliary output, threaded into the next step's variables; the
  gradients are not applied (gamma and beta stay put). Inference is a jitted
  ``apply(variables, x, use_running_average=True)``, as the class docstring shows.
* ``flax.nnx.BatchNorm``: the module with ``.train()`` and a jitted ``nnx.value_and_grad``
  step (nnx writes the new statistics into the module's ``BatchStat`` variables);
  ``.eval()`` for inference.
* ``flax.linen.Dropout`` with ``deterministic`` passed at call time and an ``rngs``
  dict holding a ``'dropout'`` key; ``flax.nnx.Dropout`` with ``nnx.Rngs(dropout=seed)``
  and ``.train()`` / ``.eval()``. Both keys come from the case seed. A ``noise_shape``
  becomes ``broadcast_dims`` (the axes where the case's mask shape is 1).

dtypes: float64 cases run inside ``jax.enable_x64(True)`` (JAX is float32-only without
it) with ``param_dtype=float64`` (a float32 parameter would round the case's gamma);
every other case keeps the defaults (``param_dtype`` float32) and passes
``dtype=<the case dtype>`` so the output stays in the input's dtype, as a
mixed-precision model (bfloat16 or float16 activations, float32 parameters) is built.
float64 batch norm is its own row, ``name[float64]``: whatever the dtypes, Flax creates
the running statistics in float32 (linen: ``jnp.float32 if force_float32_reductions``,
flax/linen/normalization.py:358-375; nnx: ``nnx.BatchStat(jnp.zeros(feature_shape,
jnp.float32))``, flax/nnx/nn/normalization.py:311-313), so a float64 model's running
statistics take another path (linen's first update multiplies the float32 initial
values; nnx writes every update back into the float32 buffers), which the suite's
convention space does not name. A row of its own keeps that path from blurring the
fits of the float32 and half-precision rows.

What the suite cannot attribute to Flax (``recipe_behaviours``):

* ``frozen_layer_mode``: Flax has no ``trainable`` flag; parameters are frozen by
  leaving them out of the optimizer or the gradient. The stand-in is a training-mode
  step whose gradient is taken with respect to the input only.
* ``stats_update_trigger`` for linen only: linen is functional; ``apply`` returns the
  updated ``batch_stats`` and the caller decides when to keep them (after the forward,
  after the gradient, or never). The threading is the suite's loop. ``nnx`` writes
  them into the module on the forward call itself, so there the trigger is measured.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Adapter,
    DocClaim,
    Implementation,
    Outputs,
    Portable,
    Unsupported,
    Variable,
    hyperparameter_kwargs,
    momentum_epsilon_kwargs,
)
from conformance.adapters.documented import hyperparameter_defaults, verified_claims
from conformance.cases.model import Case

LINEN_BN = "flax.linen.BatchNorm"
NNX_BN = "flax.nnx.BatchNorm"
LINEN_DROPOUT = "flax.linen.Dropout"
NNX_DROPOUT = "flax.nnx.Dropout"
_FLAG_ARGS: dict[str, dict[str, bool]] = {
    "scale_off": {"use_scale": False}, "center_off": {"use_bias": False},
    "affine_off": {"use_bias": False, "use_scale": False},
}


def _jax() -> Any:
    import jax

    return jax


def _dtype(case: Case) -> Any:
    import jax.numpy as jnp

    return getattr(jnp, case.dtype)


@contextlib.contextmanager
def _precision(case: Case) -> Iterator[None]:
    """float64 needs JAX's x64 mode; everything else runs in JAX's default mode."""
    if case.dtype == "float64":
        with _jax().enable_x64(True):
            yield
    else:
        yield


def _array(a: np.ndarray, case: Case) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(a, dtype=_dtype(case))  # bfloat16 arrives as float32: cast


def _np(a: Any) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":  # NumPy has no bfloat16: float32 holds it exactly
        a = a.astype(np.float32)
    return np.array(a, copy=True)


def _bn_kwargs(case: Case) -> dict[str, Any]:
    """Constructor arguments shared by linen and nnx (both take ``axis``, ``momentum``,
    ``epsilon``, ``dtype``, ``param_dtype``, ``use_scale``, ``use_bias``)."""
    import jax.numpy as jnp

    kwargs: dict[str, Any] = {"axis": case.channel_axis, "dtype": _dtype(case)}
    if case.dtype == "float64":
        kwargs["param_dtype"] = jnp.float64
    kwargs.update(hyperparameter_kwargs(case, "Flax BatchNorm"))
    flags = case.get("flags")
    if flags == "mean_only":
        raise Unsupported("Flax BatchNorm always divides by the standard deviation")
    if flags is not None:
        kwargs.update(_FLAG_ARGS[str(flags)])
    return kwargs


class _FlaxBatchNorm(Implementation):
    def qualify(self, case: Case) -> str:
        """Flags as arguments; float64 input is its own path (see the module docstring:
        JAX's x64 mode, with running statistics that Flax creates in float32)."""
        args = _FLAG_ARGS.get(str(case.get("flags")), {})
        q = [f"{k}=False" for k in sorted(args)]
        if case.dtype == "float64":
            q.append("float64")
        return f"{self.name}[{','.join(q)}]" if q else self.name

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "Flax BatchNorm has no cumulative-average momentum"
        if case.get("flags") == "mean_only":
            return "Flax BatchNorm always divides by the standard deviation"
        return None

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return frozenset({"frozen_layer_mode"}) if self.op == "batchnorm" else frozenset()

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        with _precision(case):
            return self._run(case, inputs)

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        raise NotImplementedError


@functools.cache
def _linen_functions(kwargs: tuple[tuple[str, Any], ...]) -> tuple[Any, ...]:
    """The jitted functions of a linen training loop for one module configuration, built
    once: a loop jits its step once, and rebuilding them per case re-traces every call."""
    jax = _jax()
    import flax.linen as nn

    module = nn.BatchNorm(**dict(kwargs))

    def init(x: Any) -> Any:
        return module.init(jax.random.key(0), x, use_running_average=False)

    def forward(params: Any, stats: Any, x: Any) -> tuple[Any, Any]:
        y, updates = module.apply({"params": params, "batch_stats": stats}, x,
                                  use_running_average=False, mutable=["batch_stats"])
        return y.sum(), (y, updates["batch_stats"])

    def train_step(params: Any, stats: Any, x: Any) -> tuple[Any, Any]:
        (_, (y, new_stats)), _grads = jax.value_and_grad(forward, has_aux=True)(
            params, stats, x)
        return y, new_stats

    def eval_step(params: Any, stats: Any, x: Any) -> Any:
        return module.apply({"params": params, "batch_stats": stats}, x,
                            use_running_average=True)

    def frozen_step(params: Any, stats: Any, x: Any) -> Any:
        """Stand-in for a frozen layer: the gradient is taken of the input, not the params."""
        (_, (y, _)), _grad = jax.value_and_grad(
            lambda x: forward(params, stats, x), has_aux=True)(x)
        return y

    return tuple(jax.jit(f) for f in (init, forward, train_step, eval_step, frozen_step))


# linen collections and names -> role ("params/scale" is what a checkpoint of the
# variables dict holds, flattened).
_LINEN_ROLES = {("params", "scale"): "gamma", ("params", "bias"): "beta",
                ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var"}


class _LinenLayer:
    """A linen BatchNorm as users hold one: the module's jitted functions and its variables
    (``params`` and ``batch_stats``), threaded through every call."""

    def __init__(self, functions: tuple[Any, ...], variables: Any) -> None:
        self.functions = functions
        self.params = dict(variables.get("params", {}))
        self.stats = dict(variables["batch_stats"])


class LinenPort(Portable):
    """``flax.linen.BatchNorm`` variable IO (float32; channels at ``axis``)."""

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        return {"axis": channel_axis,
                **momentum_epsilon_kwargs(momentum, epsilon, "flax.linen.BatchNorm")}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        if dtype != "float32":
            raise Unsupported("the port runs Flax in float32 only")
        functions = _linen_functions(tuple(sorted(arguments.items())))
        import jax.numpy as jnp

        return _LinenLayer(functions, functions[0](jnp.zeros(shape, jnp.float32)))

    def read(self, layer: Any) -> list[Variable]:
        out = []
        for (collection, name), role in _LINEN_ROLES.items():
            held = layer.params if collection == "params" else layer.stats
            if name in held:
                out.append(Variable(role, f"{collection}/{name}", _np(held[name])))
        return out

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        jnp = _jax().numpy
        for (collection, name), role in _LINEN_ROLES.items():
            held = layer.params if collection == "params" else layer.stats
            if name in held and role in values:
                held[name] = jnp.asarray(values[role], held[name].dtype)

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _np(layer.functions[3](layer.params, layer.stats, _jax().numpy.asarray(x)))

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        y, stats = layer.functions[2](layer.params, layer.stats, _jax().numpy.asarray(x))
        layer.stats = dict(stats)
        return _np(y)

    def row(self, layer: Any) -> str:
        return LINEN_BN


class LinenBatchNorm(_FlaxBatchNorm):
    """``flax.linen.BatchNorm`` through ``init`` / ``apply`` with ``batch_stats`` threaded."""

    def portable(self) -> Portable | None:
        return LinenPort() if self.op == "batchnorm" else None

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return super().recipe_behaviours(case) | {"stats_update_trigger"}

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        jnp = _jax().numpy
        init, forward, step, infer, frozen_step = _linen_functions(
            tuple(sorted(_bn_kwargs(case).items())))
        train = [_array(x, case) for x in inputs["train"]]

        def fresh() -> tuple[dict[str, Any], Any]:
            variables = init(train[0])
            params = dict(variables.get("params", {}))
            for name, key in (("scale", "gamma"), ("bias", "beta")):
                if name in params:
                    params[name] = jnp.asarray(inputs[key], params[name].dtype)
            return params, variables["batch_stats"]

        params, stats = fresh()
        ys, rms, rvs = [], [], []
        for x in train:
            y, stats = step(params, stats, x)
            ys.append(_np(y))
            rms.append(_np(stats["mean"]))
            rvs.append(_np(stats["var"]))
        out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                        "running_var": np.stack(rvs),
                        "y_eval": _np(infer(params, stats, _array(inputs["eval"], case)))}
        params, stats = fresh()
        out["mean_after_forward"] = _np(forward(params, stats, train[0])[1][1]["mean"])
        out["mean_after_backward"] = _np(step(params, stats, train[0])[1]["mean"])
        out["frozen_train"] = _np(frozen_step(params, stats, train[0]))
        return out


@functools.cache
def _nnx_functions() -> tuple[Any, Any, Any, Any]:
    """nnx's jitted train step, eval call, forward-only call and frozen stand-in, built once
    (nnx.jit caches compilations by the module's graph and the input shapes; eager nnx
    calls cost more than compiling them)."""
    from flax import nnx

    def loss(layer: Any, x: Any) -> tuple[Any, Any]:
        y = layer(x)
        return y.sum(), y

    def train_step(layer: Any, x: Any) -> Any:
        (_, y), _grads = nnx.value_and_grad(loss, has_aux=True)(layer, x)
        return y

    def call(layer: Any, x: Any) -> Any:
        return layer(x)

    def frozen_step(layer: Any, x: Any) -> Any:
        """Stand-in for a frozen layer: the gradient is taken of the input only."""
        return nnx.value_and_grad(loss, argnums=1, has_aux=True)(layer, x)[0][1]

    return nnx.jit(train_step), nnx.jit(call), nnx.jit(call), nnx.jit(frozen_step)


class NnxBatchNorm(_FlaxBatchNorm):
    """``flax.nnx.BatchNorm`` with ``.train()`` / ``.eval()`` and a jitted nnx step."""

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        from flax import nnx

        step, infer, forward, frozen_step = _nnx_functions()
        train = [_array(x, case) for x in inputs["train"]]

        def fresh() -> Any:
            layer = nnx.BatchNorm(case.channels, rngs=nnx.Rngs(0), **_bn_kwargs(case))
            for name, key in (("scale", "gamma"), ("bias", "beta")):
                param = getattr(layer, name)
                if param is not None:
                    param[...] = _jax().numpy.asarray(inputs[key], param[...].dtype)
            layer.train()
            return layer

        layer = fresh()
        ys, rms, rvs = [], [], []
        for x in train:
            ys.append(_np(step(layer, x)))
            rms.append(_np(layer.mean[...]))
            rvs.append(_np(layer.var[...]))
        layer.eval()
        out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                        "running_var": np.stack(rvs),
                        "y_eval": _np(infer(layer, _array(inputs["eval"], case)))}
        probe = fresh()
        forward(probe, train[0])  # a forward call in train mode, no gradient
        out["mean_after_forward"] = _np(probe.mean[...])
        probe = fresh()
        step(probe, train[0])  # one forward and its backward pass
        out["mean_after_backward"] = _np(probe.mean[...])
        out["frozen_train"] = _np(frozen_step(fresh(), train[0]))
        return out


def _broadcast_dims(case: Case) -> tuple[int, ...]:
    """``noise_shape`` as Flax's ``broadcast_dims``: the axes where one draw is shared."""
    noise = case.get("noise_shape")
    if not isinstance(noise, tuple):
        return ()
    for n, s in zip(noise, case.shape, strict=True):
        if n not in (1, s):
            raise Unsupported(f"noise_shape {noise} is neither 1 nor full along an axis "
                              f"of {case.shape}: broadcast_dims cannot express it")
    return tuple(i for i, (n, s) in enumerate(zip(noise, case.shape, strict=True))
                 if n == 1 and s != 1)


class FlaxDropout(Implementation):
    """``flax.linen.Dropout`` and ``flax.nnx.Dropout``, masks from the case seed."""

    def __init__(self, name: str, op: str, adapter: FlaxAdapter) -> None:
        super().__init__(name, op)
        self._adapter = adapter

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        with _precision(case):
            return self._run(case, inputs)

    def _run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        jax = _jax()
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        dims = _broadcast_dims(case)
        x = _array(inputs["x"], case)
        seed = self._adapter.case_seed
        if self.name == LINEN_DROPOUT:
            import flax.linen as nn

            module = nn.Dropout(rate, broadcast_dims=dims)
            y_train = module.apply({}, x, deterministic=False,
                                   rngs={"dropout": jax.random.key(seed)})
            y_eval = module.apply({}, x, deterministic=True)
        else:
            from flax import nnx

            layer = nnx.Dropout(rate, broadcast_dims=dims, rngs=nnx.Rngs(dropout=seed))
            layer.train()
            y_train = layer(x)
            layer.eval()
            y_eval = layer(x)
        return {"y_train": _np(y_train), "y_eval": _np(y_eval)}


class FlaxAdapter(Adapter):
    framework = "flax"
    devices = ("cpu", "cuda")

    def __init__(self) -> None:
        self.case_seed = 0

    def load(self) -> None:
        """JAX picks its platform once, at import: ``JAX_PLATFORMS`` says which (``cuda``
        needs the CUDA jaxlib plugin; without it JAX raises here, one line)."""
        import os

        kind = self.device.split(":", 1)[0]
        if kind == "cpu":
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        else:
            os.environ["JAX_PLATFORMS"] = kind
        jax = _jax()
        import flax  # noqa: F401  (an import failure is the run's ERROR)

        from conformance.cache import use_jax_compilation_cache

        use_jax_compilation_cache()  # compiling is most of the worker's time

        try:
            backend = jax.default_backend()
        except Exception as exc:  # CPU-only jaxlib under JAX_PLATFORMS=cuda: a bare assert
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise RuntimeError(f"device {self.device!r} unavailable: JAX cannot start "
                               f"platform {os.environ['JAX_PLATFORMS']!r} "
                               f"({type(exc).__name__}{': ' + why if why else ''})") from None
        if backend != ("cpu" if kind == "cpu" else "gpu"):
            raise RuntimeError(f"device {self.device!r} unavailable: JAX backend is "
                               f"{backend!r}")
        index = int(self.device.split(":", 1)[1]) if ":" in self.device else 0
        if index >= len(jax.devices()):
            raise RuntimeError(f"device {self.device!r} unavailable: "
                               f"{len(jax.devices())} JAX device(s)")
        if kind != "cpu":
            jax.config.update("jax_default_device", jax.devices()[index])

    def version(self) -> str:
        import flax

        return str(flax.__version__)

    def implementations(self) -> Sequence[Implementation]:
        return [
            LinenBatchNorm(LINEN_BN, "batchnorm"), NnxBatchNorm(NNX_BN, "batchnorm"),
            LinenBatchNorm(LINEN_BN, "centering"), NnxBatchNorm(NNX_BN, "centering"),
            FlaxDropout(LINEN_DROPOUT, "dropout", self),
            FlaxDropout(NNX_DROPOUT, "dropout", self),
        ]

    def documented(self) -> list[DocClaim]:
        import flax.linen as nn
        from flax import nnx

        return (hyperparameter_defaults(LINEN_BN, nn.BatchNorm)
                + hyperparameter_defaults(NNX_BN, nnx.BatchNorm.__init__) + verified_claims("flax"))

    def seed(self, seed: int) -> None:
        self.case_seed = seed

    def environment(self) -> dict[str, str]:
        jax = _jax()
        index = int(self.device.split(":", 1)[1]) if ":" in self.device else 0
        dev = jax.devices()[index]
        name = "cpu" if dev.platform == "cpu" else f"cuda:{index} ({dev.device_kind})"
        return {"device": name, "jax": str(jax.__version__),
                "backend": str(jax.default_backend())}
