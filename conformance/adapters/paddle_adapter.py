"""PaddlePaddle (CPU): ``paddle.nn.BatchNorm1D/2D/3D`` and ``paddle.nn.Dropout`` /
``paddle.nn.functional.dropout``.

A training step is forward in ``train()`` mode followed by ``backward()`` on the sum of
the outputs, with no optimizer step (weight and bias, set from the case's gamma and beta,
stay fixed). Inference is ``eval()``. ``momentum`` and ``epsilon`` are passed as users
pass them: Paddle's ``momentum`` is the weight on the old running statistic (default 0.9).
Channels-last cases pass ``data_format`` (``NLC``, ``NHWC``, ``NDHWC``) and are their own
row, ``name[data_format=...]``; rank-2 input is ``NC`` whichever the channel axis.

float64 layers are built under ``paddle.set_default_dtype("float64")`` so weight, bias and
the running buffers are float64 (Paddle registers float64 and float32 ``batch_norm``
kernels on CPU). Paddle 3.3.1's CPU ``batch_norm`` kernel has no float16 or bfloat16
registration: those cases are UNSUPPORTED with the kernel's own message.

Paddle has no layer-level ``trainable`` flag; ``frozen_train`` is a fresh layer whose
parameters have ``stop_gradient=True`` (the documented way to freeze a parameter), called
in ``train()`` mode, so ``frozen_layer_mode`` is the stand-in's value (recipe).

Dropout is seeded with ``paddle.seed(case seed)``. ``mode="upscale_in_train"`` (the
default) is the plain row; ``mode="downscale_in_infer"`` is its own row
(``name[mode=downscale_in_infer]``). A noise shape becomes Paddle's ``axis`` argument
(the axes that get their own draws; the others share one).
"""

from __future__ import annotations

import contextlib
import warnings
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

_RANKS = {"paddle.nn.BatchNorm1D": (2, 3), "paddle.nn.BatchNorm2D": (4,),
          "paddle.nn.BatchNorm3D": (5,)}
_CHANNELS_LAST = {3: "NLC", 4: "NHWC", 5: "NDHWC"}
_CHANNELS_FIRST = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
DOWNSCALE = "downscale_in_infer"
# What paddle 3.3.1 raises for a float16/bfloat16 batch_norm on CPU (measured).
_HALF_REASON = ("paddle 3.3.1 registers the CPU batch_norm kernel for float64 and float32 "
                "only (NotFound: kernel `batch_norm` for {dtype} is not registered)")


def _paddle() -> Any:
    import paddle

    return paddle


@contextlib.contextmanager
def _default_dtype(dtype: str) -> Iterator[None]:
    paddle = _paddle()
    old = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(old)


def _tensor(a: np.ndarray, dtype: str, grad: bool = False) -> Any:
    paddle = _paddle()
    t = paddle.to_tensor(np.ascontiguousarray(a), dtype=dtype)
    t.stop_gradient = not grad
    return t


def _np(t: Any) -> np.ndarray:
    t = t.detach()
    if str(t.dtype) == "paddle.bfloat16":  # NumPy has no bfloat16: float32 holds it exactly
        t = t.astype("float32")
    return np.array(t.numpy(), copy=True)


def _data_format(case: Case) -> str:
    rank = len(case.shape)
    if case.channel_axis != 1 and rank > 2:
        return _CHANNELS_LAST[rank]
    return _CHANNELS_FIRST[rank]


class BatchNormLayer(Implementation):
    """``paddle.nn.BatchNorm1D/2D/3D`` (also the centering flags through ``weight_attr`` /
    ``bias_attr=False``)."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        """``frozen_layer_mode`` is read from parameters with ``stop_gradient=True``:
        Paddle has no layer-level trainable flag, so the value is the stand-in's."""
        return frozenset({"frozen_layer_mode"}) if self.op == "batchnorm" else frozenset()

    def supports(self, case: Case) -> str | None:
        ranks = _RANKS[self.name]
        if len(case.shape) not in ranks:
            return f"{self.name} takes rank {' or '.join(map(str, ranks))} input"
        if case.dtype in ("float16", "bfloat16"):
            return _HALF_REASON.format(dtype=case.dtype)
        if case.get("momentum") == "none":
            return "momentum is a float; Paddle has no cumulative-average option"
        if case.get("flags") == "mean_only":
            return "paddle.nn.BatchNorm cannot normalize the mean only"
        return None

    def portable(self) -> Portable | None:
        return PaddlePort(self.name) if self.op == "batchnorm" else None

    def qualify(self, case: Case) -> str:
        if len(case.shape) not in _RANKS[self.name]:
            return self.name
        quals = []
        fmt = _data_format(case)
        if fmt in _CHANNELS_LAST.values():
            quals.append(f"data_format={fmt}")
        flag = {"affine_off": "weight_attr=False,bias_attr=False",
                "center_off": "bias_attr=False",
                "scale_off": "weight_attr=False"}.get(str(case.get("flags")))
        if flag:
            quals.append(flag)
        return f"{self.name}[{','.join(quals)}]" if quals else self.name

    def _make(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        paddle = _paddle()
        kwargs: dict[str, Any] = {"data_format": _data_format(case),
                                  **hyperparameter_kwargs(case, "Paddle")}
        flags = case.get("flags")
        if flags in ("affine_off", "scale_off"):
            kwargs["weight_attr"] = False
        if flags in ("affine_off", "center_off"):
            kwargs["bias_attr"] = False
        cls = getattr(paddle.nn, self.name.rsplit(".", 1)[1])
        with _default_dtype(case.dtype):
            layer = cls(case.channels, **kwargs)
        if layer.weight is not None:
            layer.weight.set_value(np.asarray(inputs["gamma"], dtype=case.dtype))
        if layer.bias is not None:
            layer.bias.set_value(np.asarray(inputs["beta"], dtype=case.dtype))
        return layer

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        dt = case.dtype
        train = inputs["train"]
        with warnings.catch_warnings():
            # "When training, we now always track global mean and variance." on every call
            warnings.simplefilter("ignore", UserWarning)
            layer = self._make(case, inputs)
            ys, rms, rvs = [], [], []
            for x in train:
                layer.train()
                y = layer(_tensor(x, dt, grad=True))
                y.sum().backward()
                ys.append(_np(y))
                rms.append(_np(layer._mean))
                rvs.append(_np(layer._variance))
            layer.eval()
            out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                            "running_var": np.stack(rvs),
                            "y_eval": _np(layer(_tensor(inputs["eval"], dt)))}
            probe = self._make(case, inputs)
            probe.train()
            y = probe(_tensor(train[0], dt, grad=True))
            out["mean_after_forward"] = _np(probe._mean)
            y.sum().backward()
            out["mean_after_backward"] = _np(probe._mean)
            # The nearest thing Paddle has to trainable=False: parameters that stop gradients.
            frozen = self._make(case, inputs)
            for p in frozen.parameters():
                p.stop_gradient = True
            frozen.train()
            out["frozen_train"] = _np(frozen(_tensor(train[0], dt)))
        return out


# state_dict keys of paddle.nn.BatchNormND -> role.
_ROLES = {"weight": "gamma", "bias": "beta", "_mean": "running_mean",
          "_variance": "running_var"}


class PaddlePort(Portable):
    """``paddle.nn.BatchNorm1D/2D/3D`` variable IO under its ``state_dict`` keys."""

    def __init__(self, name: str) -> None:
        self.name = name

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        rank = len(shape)
        if rank not in _RANKS[self.name]:
            raise Unsupported(f"{self.name} takes rank {_RANKS[self.name]} input, not {rank}")
        fmt = _CHANNELS_FIRST[rank] if channel_axis == 1 or rank == 2 else _CHANNELS_LAST[rank]
        return {"num_features": shape[channel_axis], "data_format": fmt,
                **momentum_epsilon_kwargs(momentum, epsilon, "Paddle")}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        cls = getattr(_paddle().nn, self.name.rsplit(".", 1)[1])
        with _default_dtype(dtype):
            return cls(**arguments)

    def read(self, layer: Any) -> list[Variable]:
        return [Variable(_ROLES.get(k, k), k, _np(t)) for k, t in layer.state_dict().items()]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        for key, t in layer.state_dict().items():
            role = _ROLES.get(key)
            if role is not None and role in values:
                t.set_value(np.asarray(values[role], dtype=_np(t).dtype))

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        layer.eval()
        return _np(layer(_tensor(x, str(x.dtype))))

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            layer.train()
            y = layer(_tensor(x, str(x.dtype), grad=True))
            y.sum().backward()
        return _np(y)

    def row(self, layer: Any) -> str:
        return self.name


class DropoutImpl(Implementation):
    """``paddle.nn.Dropout`` (layer) and ``paddle.nn.functional.dropout``, with ``mode``."""

    def __init__(self, api: str, mode: str = "upscale_in_train") -> None:
        super().__init__(f"{api}[mode={mode}]" if mode == DOWNSCALE else api, "dropout")
        self.api = api
        self.mode = mode

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        paddle = _paddle()
        x = _tensor(inputs["x"], case.dtype)
        p = float(case.get("rate"))  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {"p": p}
        if self.mode != "upscale_in_train":
            kwargs["mode"] = self.mode
        noise = case.get("noise_shape")
        if isinstance(noise, tuple):
            kwargs["axis"] = [i for i, n in enumerate(noise) if n != 1]
        if self.api == "paddle.nn.Dropout":
            layer = paddle.nn.Dropout(**kwargs)
            layer.train()
            y_train = layer(x)
            layer.eval()
            y_eval = layer(x)
        else:
            fn = paddle.nn.functional.dropout
            y_train = fn(x, training=True, **kwargs)
            y_eval = fn(x, training=False, **kwargs)
        return {"y_train": _np(y_train), "y_eval": _np(y_eval)}


class PaddleAdapter(Adapter):
    framework = "paddle"

    def load(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "No ccache found" from cpp_extension
            paddle = _paddle()
        paddle.set_device("cpu")
        paddle.set_default_dtype("float32")

    def version(self) -> str:
        return str(_paddle().__version__)

    def implementations(self) -> Sequence[Implementation]:
        impls: list[Implementation] = [BatchNormLayer(n, "batchnorm") for n in _RANKS]
        # Centering cases are rank 2 and 4, so BatchNorm3D has none to run.
        impls += [BatchNormLayer(n, "centering")
                  for n in ("paddle.nn.BatchNorm1D", "paddle.nn.BatchNorm2D")]
        impls += [DropoutImpl("paddle.nn.Dropout"),
                  DropoutImpl("paddle.nn.Dropout", DOWNSCALE),
                  DropoutImpl("paddle.nn.functional.dropout")]
        return impls

    def documented(self) -> list[DocClaim]:
        paddle = _paddle()
        claims = [c for name in _RANKS for c in hyperparameter_defaults(
            name, getattr(paddle.nn, name.rsplit(".", 1)[1]))]
        return claims + verified_claims("paddle")

    def seed(self, seed: int) -> None:
        _paddle().seed(seed)

    def environment(self) -> dict[str, str]:
        paddle = _paddle()
        return {"device": str(paddle.get_device()),
                "build": f"{paddle.version.full_version} (commit {paddle.version.commit})"}
