"""MXNet 1.9.1: ``mxnet.nd.BatchNorm``, ``mxnet.gluon.nn.BatchNorm``, nd and gluon dropout.

A training step is what MXNet users write: the forward inside
``autograd.record()`` (train mode), then ``y.backward()`` with no trainer step,
so gamma and beta are never updated by an optimizer. The operator updates its
auxiliary states ``moving_mean``/``moving_var`` in place, and in 1.9.1 it does so
in the *backward* pass; the adapter reports the running statistics after each
whole step and lets ``mean_after_forward``/``mean_after_backward`` show when.

Quirks kept here:

* float16 data needs float32 gamma, beta and auxiliary states (the operator's
  type check demands it; gluon's ``BatchNorm.cast`` does the same).
* ``fix_gamma=True`` (the operator's default, and gluon's ``scale=False``)
  overwrites the caller's gamma array with ones in place.
* gluon's ``center=False`` only freezes beta at its zero initializer; the
  operator still adds whatever beta holds. The adapter loads the case's beta
  into every layer, as it would load a checkpoint, so this shows.
* gluon has no ``trainable`` flag; the freezing idiom is ``grad_req='null'`` on
  the parameters, which is what ``frozen_train`` runs.
* mxnet emits DeprecationWarnings on import with numpy 1.23 and logs from C++;
  both are silenced in :meth:`MxnetAdapter.load`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
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
from conformance.adapters.documented import signature_default, verified_claims
from conformance.cases.model import Case

ND_BATCHNORM = "mxnet.nd.BatchNorm"
GLUON_BATCHNORM = "mxnet.gluon.nn.BatchNorm"

# Set before mxnet is imported: quiet C++ logs and one OpenMP thread so reductions
# and dropout masks are reproducible. (NaiveEngine would make errors synchronous,
# but announces itself on stderr; every output is read at once anyway.)
_ENV_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "MXNET_STORAGE_FALLBACK_LOG_VERBOSE": "0",
    "MXNET_SUBGRAPH_VERBOSE": "0",
}

# Centering flags -> gluon constructor arguments, and the qualifier they show as.
_CENTERING_FLAGS: dict[str, tuple[dict[str, bool], str]] = {
    "scale_off": ({"scale": False}, "scale=False"),
    "center_off": ({"center": False}, "center=False"),
    "affine_off": ({"center": False, "scale": False}, "center=False,scale=False"),
}


def _mx() -> Any:
    with warnings.catch_warnings():
        # mxnet 1.9.1 touches np.bool and distutils at import time.
        warnings.simplefilter("ignore")
        import mxnet

    return mxnet


def _param_dtype(dtype: str) -> str:
    """MXNet keeps batch-norm parameters and statistics of float16 data in float32."""
    return "float32" if dtype == "float16" else dtype


def _array(a: np.ndarray, dtype: str | None = None) -> Any:
    return _mx().nd.array(np.ascontiguousarray(a), dtype=dtype or a.dtype.name)


def _np(a: Any) -> np.ndarray:
    return np.asarray(a.asnumpy()).copy()


def _channel_kwargs(case: Case) -> dict[str, int]:
    """Channels-first is MXNet's default axis 1 (not passed); channels-last is axis=-1."""
    return {"axis": -1} if case.get("channel_axis", "first") == "last" else {}


# Not tried: MXNet 1.9 keeps bfloat16 as its own NumPy record type behind oneDNN-only
# kernels, and its env (numpy 1.23) cannot import ml_dtypes.
BFLOAT16_UNSUPPORTED = "bfloat16 is not run on MXNet 1.9 (a oneDNN-only custom dtype)"


class _StepRunner:
    """Shared driver: training steps, inference, and the forward/backward probe."""

    def _fresh(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def _forward(self, state: Any, x: Any) -> Any:
        raise NotImplementedError

    def _stats(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _step(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward under ``autograd.record()``, then backward; returns (y, mean after forward)."""
        mx = _mx()
        data = _array(x)
        data.attach_grad()  # stands for the layer upstream, so backward always has a target
        with mx.autograd.record(train_mode=True):
            y = self._forward(state, data)
        after_forward = self._stats(state)[0]
        y.backward()
        return _np(y), after_forward

    def _sequence(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        state = self._fresh(case, inputs)
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            ys.append(self._step(state, x)[0])
            rm, rv = self._stats(state)
            rms.append(rm)
            rvs.append(rv)
        y_eval = _np(self._forward(state, _array(inputs["eval"])))  # outside record: inference
        probe = self._fresh(case, inputs)
        _, after_forward = self._step(probe, inputs["train"][0])
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": y_eval,
                "mean_after_forward": after_forward,
                "mean_after_backward": self._stats(probe)[0]}


class NdBatchNorm(_StepRunner, Implementation):
    """``mxnet.nd.BatchNorm``, the operator, with caller-held gamma, beta and aux states.

    ``meta`` holds the operator arguments of a qualified row (``fix_gamma=False``);
    everything else is the operator's own default.
    """

    def supports(self, case: Case) -> str | None:
        if case.dtype == "bfloat16":
            return BFLOAT16_UNSUPPORTED
        if case.get("momentum") == "none":
            return "MXNet has no cumulative-average momentum"
        return None

    def _fresh(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        pdt = _param_dtype(case.dtype)
        gamma, beta = _array(inputs["gamma"], pdt), _array(inputs["beta"], pdt)
        gamma.attach_grad()
        beta.attach_grad()
        mx = _mx()
        aux = (mx.nd.zeros(case.channels, dtype=pdt), mx.nd.ones(case.channels, dtype=pdt))
        kwargs = {**_channel_kwargs(case), **hyperparameter_kwargs(case, "MXNet", epsilon="eps"),
                  **self.meta}
        return gamma, beta, aux, kwargs

    def _forward(self, state: Any, x: Any) -> Any:
        gamma, beta, (mean, var), kwargs = state
        return _mx().nd.BatchNorm(x, gamma, beta, mean, var, **kwargs)

    def _stats(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        mean, var = state[2]
        return _np(mean), _np(var)

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        return self._sequence(case, inputs)


class GluonBatchNorm(_StepRunner, Implementation):
    """``mxnet.gluon.nn.BatchNorm`` (not hybridized, as constructed by default).

    Batch-norm cases run the defaults; centering cases run ``scale``/``center``
    flags and show as ``mxnet.gluon.nn.BatchNorm[<flags>]``. Gluon calls
    ``F.BatchNorm`` with ``fix_gamma = not scale`` (gluon/nn/basic_layers.py:339-340)
    and no ``fix_beta``, so ``center=False`` only means beta is frozen at its init.
    """

    def supports(self, case: Case) -> str | None:
        if case.dtype == "bfloat16":
            return BFLOAT16_UNSUPPORTED
        if case.get("momentum") == "none":
            return "MXNet has no cumulative-average momentum"
        if case.op == "centering" and case.get("flags") not in _CENTERING_FLAGS:
            return f"gluon BatchNorm has no flag for {case.get('flags')}"
        return None

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        """gluon has no trainable flag: ``frozen_layer_mode`` is read from the stand-in,
        ``grad_req='null'``, which only stops gradients, so the value is not gluon's."""
        return frozenset({"frozen_layer_mode"}) if case.op == "batchnorm" else frozenset()

    def demonstration(self, case: Case) -> str:
        if case.op != "centering" or case.get("flags") not in ("center_off", "affine_off"):
            return ""
        return ("a nonzero beta is loaded into a center=False layer, as from a checkpoint "
                "trained with center=True: center=False only freezes beta at its zero "
                "initializer, so the operator adds whatever beta holds")

    def qualify(self, case: Case) -> str:
        if case.op == "centering" and case.get("flags") in _CENTERING_FLAGS:
            return f"{self.name}[{_CENTERING_FLAGS[str(case.get('flags'))][1]}]"
        return self.name

    def portable(self) -> Portable | None:
        return GluonPort() if self.op == "batchnorm" else None

    def _fresh(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        mx = _mx()
        kwargs: dict[str, Any] = {**_channel_kwargs(case), **hyperparameter_kwargs(case, "MXNet")}
        if case.op == "centering":
            flags = str(case.get("flags"))
            if flags not in _CENTERING_FLAGS:
                raise Unsupported(f"gluon BatchNorm has no flag for {flags}")
            kwargs.update(_CENTERING_FLAGS[flags][0])
        net = mx.gluon.nn.BatchNorm(in_channels=case.channels, **kwargs)
        net.initialize(ctx=mx.cpu())
        if case.dtype != "float32":
            net.cast(case.dtype)  # float16 keeps float32 parameters (BatchNorm.cast)
        # Loaded like a checkpoint: every parameter the layer holds gets the case's value.
        net.gamma.set_data(_array(inputs["gamma"], np.dtype(net.gamma.dtype).name))
        net.beta.set_data(_array(inputs["beta"], np.dtype(net.beta.dtype).name))
        return net

    def _forward(self, state: Any, x: Any) -> Any:
        return state(x)

    def _stats(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        return _np(state.running_mean.data()), _np(state.running_var.data())

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        out = self._sequence(case, inputs)
        mx = _mx()
        frozen = self._fresh(case, inputs)
        frozen.collect_params().setattr("grad_req", "null")  # gluon's way to freeze a layer
        with mx.autograd.record(train_mode=True):
            out["frozen_train"] = _np(frozen(_array(inputs["train"][0])))
        return out


# Parameter names of gluon BatchNorm (as ``save_parameters`` keys them) -> role.
_ROLES = {"gamma": "gamma", "beta": "beta", "running_mean": "running_mean",
          "running_var": "running_var"}


class GluonPort(_StepRunner, Portable):
    """``mxnet.gluon.nn.BatchNorm`` variable IO, under the names ``save_parameters`` uses."""

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        return {"axis": channel_axis, "in_channels": shape[channel_axis],
                **momentum_epsilon_kwargs(momentum, epsilon, "MXNet")}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        mx = _mx()
        net = mx.gluon.nn.BatchNorm(**arguments)
        net.initialize(ctx=mx.cpu())
        if dtype != "float32":
            net.cast(dtype)
        return net

    def read(self, layer: Any) -> list[Variable]:
        params = layer._collect_params_with_prefix()  # the keys save_parameters writes
        return [Variable(_ROLES.get(k, k), k, _np(p.data())) for k, p in params.items()]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        for key, p in layer._collect_params_with_prefix().items():
            role = _ROLES.get(key)
            if role is not None and role in values:
                p.set_data(_array(np.asarray(values[role]), np.dtype(p.dtype).name))

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _np(layer(_array(x)))  # outside autograd.record(): inference

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return self._step(layer, x)[0]

    def _forward(self, state: Any, x: Any) -> Any:
        return state(x)

    def _stats(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        return _np(state.running_mean.data()), _np(state.running_var.data())

    def row(self, layer: Any) -> str:
        return GLUON_BATCHNORM


def _axes(case: Case) -> tuple[int, ...] | None:
    """The case's ``noise_shape`` as MXNet ``axes`` (the axes the mask is shared along)."""
    noise = case.get("noise_shape")
    if noise is None:
        return None
    assert isinstance(noise, tuple)
    if len(noise) != len(case.shape):
        raise Unsupported(f"noise_shape {noise} does not match the rank of {case.shape}")
    pairs = list(zip(noise, case.shape, strict=True))
    if any(n not in (1, s) for n, s in pairs):
        raise Unsupported(f"noise_shape {noise} is not a broadcast of shape {case.shape}")
    return tuple(i for i, (n, s) in enumerate(pairs) if n == 1 and s != 1)


class NdDropout(Implementation):
    """``mxnet.nd.Dropout``; ``meta`` holds a qualified row's ``mode`` (``always``)."""

    def config(self, case: Case) -> dict[str, Any]:
        """``mode='always'`` keeps dropout on at inference: the oracle models it."""
        return dict(self.meta)

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        mx = _mx()
        kwargs: dict[str, Any] = {"p": float(case.get("rate")), **self.meta}  # type: ignore[arg-type]
        axes = _axes(case)
        if axes is not None:
            kwargs["axes"] = axes
        return _dropout_outputs(lambda x: mx.nd.Dropout(x, **kwargs), inputs["x"])


class GluonDropout(Implementation):
    """``mxnet.gluon.nn.Dropout(rate, axes)``; rate 0 takes gluon's identity branch."""

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        mx = _mx()
        axes = _axes(case)
        layer = mx.gluon.nn.Dropout(float(case.get("rate")),  # type: ignore[arg-type]
                                    axes=axes if axes is not None else ())
        return _dropout_outputs(layer, inputs["x"])


def _dropout_outputs(fn: Callable[[Any], Any], x: np.ndarray) -> Outputs:
    """Training = inside ``autograd.record()``; inference = a plain call outside it."""
    mx = _mx()
    data = _array(x)
    with mx.autograd.record(train_mode=True):
        y_train = _np(fn(data))
    return {"y_train": y_train, "y_eval": _np(fn(data))}


class MxnetAdapter(Adapter):
    framework = "mxnet"

    def load(self) -> None:
        for key, value in _ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        logging.getLogger("mxnet").setLevel(logging.ERROR)
        _mx()

    def version(self) -> str:
        return str(_mx().__version__)

    def implementations(self) -> Sequence[Implementation]:
        return [
            NdBatchNorm(ND_BATCHNORM, "batchnorm"),
            NdBatchNorm(f"{ND_BATCHNORM}[fix_gamma=False]", "batchnorm",
                        meta={"fix_gamma": False}),
            GluonBatchNorm(GLUON_BATCHNORM, "batchnorm"),
            GluonBatchNorm(GLUON_BATCHNORM, "centering"),
            NdDropout("mxnet.nd.Dropout", "dropout"),
            NdDropout("mxnet.nd.Dropout[mode=always]", "dropout", meta={"mode": "always"}),
            GluonDropout("mxnet.gluon.nn.Dropout", "dropout"),
        ]

    def documented(self) -> list[DocClaim]:
        # The nd operators' signatures hold only _Null placeholders (their defaults
        # are in the generated docstrings, see claims/mxnet.toml); gluon's are real.
        cls = _mx().gluon.nn.BatchNorm
        claims = [signature_default(GLUON_BATCHNORM, cls, param, behaviour)
                  for param, behaviour in (("momentum", "momentum_default"),
                                           ("epsilon", "epsilon_default"))]
        return [c for c in claims if c is not None] + verified_claims("mxnet")

    def seed(self, seed: int) -> None:
        _mx().random.seed(seed)
        np.random.seed(seed)  # some mxnet initializers draw from NumPy's global stream

    def environment(self) -> dict[str, str]:
        mx = _mx()
        features = mx.runtime.Features()
        return {"device": "cpu", "omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
                "mkldnn": str(features.is_enabled("MKLDNN"))}
