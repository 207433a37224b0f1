"""PyTorch: ``torch.nn.BatchNorm1d/2d/3d``, ``F.batch_norm``, dropout, centering.

A training step is forward in ``train()`` mode followed by ``backward()`` on the
sum of the outputs, with no optimizer step (gamma and beta stay fixed).
PyTorch only takes channels at dim 1, so channels-last cases are unsupported
(users permute first; that is not the API under test).

On ``cuda`` every module, buffer and input lives on the GPU (BatchNorm then takes
cuDNN's path or torch's own CUDA kernel, as it would for users); outputs are copied
back to the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    hyperparameter_kwargs,
    momentum_epsilon_kwargs,
)
from conformance.adapters.documented import hyperparameter_defaults, verified_claims
from conformance.cases.model import Case

_RANKS = {"torch.nn.BatchNorm1d": (2, 3), "torch.nn.BatchNorm2d": (4,),
          "torch.nn.BatchNorm3d": (5,)}
MEAN_CENTERING = f"{RECIPE_PREFIX}torch.MeanCentering"  # the suite's recipe, not a torch module


def _torch() -> Any:
    import torch

    return torch


def _tensor(a: np.ndarray, grad: bool = False, dtype: Any = None, device: Any = "cpu") -> Any:
    """``dtype``: the case's torch dtype (bfloat16 inputs arrive as float32 arrays)."""
    t = _torch().from_numpy(np.ascontiguousarray(a)).to(device)
    t = t if dtype is None else t.to(dtype)
    return t.requires_grad_(True) if grad else t


def _like(a: np.ndarray, buffer: Any, grad: bool = False) -> Any:
    """``a`` as a tensor of the module's dtype, on the module's device."""
    return _tensor(a, grad, buffer.dtype, buffer.device)


def _np(t: Any) -> np.ndarray:
    # A copy: numpy() shares memory with buffers that later steps update in place.
    t = t.detach().cpu()
    if t.dtype == _torch().bfloat16:  # NumPy has no bfloat16: float32 holds it exactly
        t = t.float()
    return np.array(t.numpy(), copy=True)


def torch_hyperparameters(momentum: float | str, epsilon: float | str) -> dict[str, Any]:
    """Momentum and epsilon as torch's BatchNorm arguments: ``"none"`` is torch's
    cumulative average (``momentum=None``); ``"default"`` passes nothing. The rows, the
    port's layers and the ONNX export rows' modules all build with it."""
    if momentum == "none":
        return {"momentum": None,
                **momentum_epsilon_kwargs("default", epsilon, "torch", epsilon="eps")}
    return momentum_epsilon_kwargs(momentum, epsilon, "torch", epsilon="eps")


def _bn_kwargs(case: Case) -> dict[str, Any]:
    kwargs: dict[str, Any] = torch_hyperparameters(case.get("momentum"),  # type: ignore[arg-type]
                                                   case.get("epsilon"))  # type: ignore[arg-type]
    flags = case.get("flags")
    if flags == "affine_off":
        kwargs["affine"] = False
    elif flags == "center_off":
        kwargs["bias"] = False
    elif flags in ("scale_off", "mean_only"):
        raise Unsupported(f"torch.nn.BatchNorm has no flag for {flags}")
    return kwargs


def _step(module: Any, x: np.ndarray) -> Any:
    """One training step as users run it: forward in train mode, then backward."""
    module.train()
    y = module(_like(x, module.running_mean, grad=True))
    y.sum().backward()
    return y


@dataclass
class TorchImplementation(Implementation):
    """A row that runs on the adapter's device (``cpu``, ``cuda``, ``cuda:N``)."""

    device: str = "cpu"


class BatchNormModule(TorchImplementation):
    """``torch.nn.BatchNormNd`` and the suite's mean-only centering module."""

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        """The centering recipe is the suite's code through and through; for the real
        modules, ``frozen_layer_mode`` is read from ``requires_grad_(False)``, which only
        stops gradients: torch has no trainable flag, so the value is the stand-in's."""
        if self.name == MEAN_CENTERING:
            return RECIPE_CENTERING
        return frozenset({"frozen_layer_mode"}) if self.op == "batchnorm" else frozenset()

    def supports(self, case: Case) -> str | None:
        if case.channel_axis != 1:
            return "channels must be at dim 1"
        ranks = _RANKS.get(self.name.split("[")[0])
        if ranks is not None and len(case.shape) not in ranks:
            return f"{self.name} takes rank {' or '.join(map(str, ranks))} input"
        return None

    def qualify(self, case: Case) -> str:
        flags = case.get("flags")
        qualifier = {"affine_off": "affine=False", "center_off": "bias=False",
                     "scale_off": "scale_off"}.get(str(flags))
        return f"{self.name}[{qualifier}]" if qualifier else self.name

    def _make(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Any:
        torch = _torch()
        if self.name == MEAN_CENTERING:
            if case.get("flags") != "mean_only":
                raise Unsupported("the mean-only recipe runs only mean_only cases")
            module: Any = _mean_centering(case)
        else:
            if case.get("flags") == "mean_only":
                raise Unsupported("torch.nn.BatchNorm cannot normalize the mean only")
            cls = getattr(torch.nn, self.name.rsplit(".", 1)[1])
            module = cls(case.channels, **_bn_kwargs(case))
        module = module.to(device=self.device, dtype=getattr(torch, case.dtype))
        with torch.no_grad():
            if getattr(module, "weight", None) is not None:
                module.weight.copy_(_tensor(inputs["gamma"]))
            if getattr(module, "bias", None) is not None:
                module.bias.copy_(_tensor(inputs["beta"]))
        return module

    def portable(self) -> Portable | None:
        return TorchPort(self.name, self.device) if self.name in _RANKS else None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        train = inputs["train"]
        m = self._make(case, inputs)
        ys, rms, rvs = [], [], []
        for x in train:
            ys.append(_np(_step(m, x)))
            rms.append(_np(m.running_mean))
            if getattr(m, "running_var", None) is not None:
                rvs.append(_np(m.running_var))
        m.eval()
        out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                        "y_eval": _np(m(_like(inputs["eval"], m.running_mean)))}
        if rvs:
            out["running_var"] = np.stack(rvs)
        probe = self._make(case, inputs)
        probe.train()
        y = probe(_like(train[0], probe.running_mean, grad=True))
        out["mean_after_forward"] = _np(probe.running_mean)
        y.sum().backward()
        out["mean_after_backward"] = _np(probe.running_mean)
        # The nearest thing torch has to trainable=False: parameters without gradients.
        frozen = self._make(case, inputs).requires_grad_(False)
        frozen.train()
        out["frozen_train"] = _np(frozen(_like(train[0], frozen.running_mean)))
        return out


# state_dict keys of torch.nn.BatchNormNd -> the role each plays.
_ROLES = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean",
          "running_var": "running_var", "num_batches_tracked": "count"}


class TorchPort(Portable):
    """``torch.nn.BatchNormNd`` variable IO: the ``state_dict`` keys are its names."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        self.name, self.device = name, device

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        if channel_axis != 1:
            raise Unsupported("torch.nn.BatchNorm takes channels at dim 1 only")
        if len(shape) not in _RANKS[self.name]:
            raise Unsupported(f"{self.name} takes rank {_RANKS[self.name]} input, not "
                              f"{len(shape)}")
        return {"num_features": shape[1], **torch_hyperparameters(momentum, epsilon)}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        torch = _torch()
        cls = getattr(torch.nn, self.name.rsplit(".", 1)[1])
        return cls(**arguments).to(device=self.device, dtype=getattr(torch, dtype))

    def read(self, layer: Any) -> list[Variable]:
        return [Variable(_ROLES[k], k, _np(t)) for k, t in layer.state_dict().items()]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        torch = _torch()
        state = layer.state_dict()
        with torch.no_grad():
            for key, role in _ROLES.items():
                if key in state and role in values:
                    state[key].copy_(torch.as_tensor(np.asarray(values[role])))

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        layer.eval()
        with _torch().no_grad():
            return _np(layer(_like(x, layer.running_mean)))

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        return _np(_step(layer, x))

    def row(self, layer: Any) -> str:
        return self.name


def _mean_centering(case: Case) -> Any:
    """Mean-only centering written the PyTorch way (a common recipe, shipped by the suite)."""
    torch = _torch()
    momentum = case.get("momentum")

    class MeanCentering(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, channels: int, momentum: float = 0.1) -> None:
            super().__init__()
            self.momentum = momentum
            self.bias = torch.nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))

        def forward(self, x: Any) -> Any:
            dims = [d for d in range(x.dim()) if d != 1]
            shape = [1] * x.dim()
            shape[1] = -1
            if self.training:
                mean = x.mean(dim=dims)
                with torch.no_grad():
                    self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            else:
                mean = self.running_mean
            return x - mean.view(shape) + self.bias.view(shape)

    if momentum in ("default", None):
        return MeanCentering(case.channels)
    if momentum == "none":
        raise Unsupported("the recipe has no cumulative-average option")
    return MeanCentering(case.channels, float(momentum))  # type: ignore[arg-type]


class FunctionalBatchNorm(TorchImplementation):
    """``torch.nn.functional.batch_norm`` with running buffers kept by the caller."""

    def supports(self, case: Case) -> str | None:
        if case.channel_axis != 1:
            return "channels must be at dim 1"
        if case.get("momentum") == "none":
            return "momentum must be a float"
        if case.op == "centering":
            return "centering flags are module arguments"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        torch = _torch()
        fn = torch.nn.functional.batch_norm
        kwargs = hyperparameter_kwargs(case, "torch.nn.functional.batch_norm", epsilon="eps")
        dt, dev = getattr(torch, case.dtype), self.device
        gamma = _tensor(inputs["gamma"], dtype=dt, device=dev).clone().requires_grad_(True)
        beta = _tensor(inputs["beta"], dtype=dt, device=dev).clone().requires_grad_(True)

        def buffers() -> tuple[Any, Any]:
            return (torch.zeros(case.channels, dtype=dt, device=dev),
                    torch.ones(case.channels, dtype=dt, device=dev))

        rm, rv = buffers()
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            y = fn(_like(x, rm, grad=True), rm, rv, gamma, beta, training=True, **kwargs)
            y.sum().backward()
            ys.append(_np(y))
            rms.append(_np(rm))
            rvs.append(_np(rv))
        y_eval = fn(_like(inputs["eval"], rm), rm, rv, gamma, beta, training=False, **kwargs)
        prm, prv = buffers()
        y0 = fn(_like(inputs["train"][0], prm, grad=True), prm, prv, gamma, beta,
                training=True, **kwargs)
        after_forward = _np(prm)
        y0.sum().backward()
        return {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                "running_var": np.stack(rvs), "y_eval": _np(y_eval),
                "mean_after_forward": after_forward, "mean_after_backward": _np(prm)}


class DropoutImpl(TorchImplementation):
    """``torch.nn.Dropout`` (module) and ``torch.nn.functional.dropout``."""

    def supports(self, case: Case) -> str | None:
        if case.get("noise_shape") is not None:
            return "torch dropout has no noise_shape (mask broadcasting)"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        torch = _torch()
        x = _tensor(inputs["x"], dtype=getattr(torch, case.dtype), device=self.device)
        p = float(case.get("rate"))  # type: ignore[arg-type]
        if self.name == "torch.nn.Dropout":
            module = torch.nn.Dropout(p=p)
            y_train = module.train()(x)
            y_eval = module.eval()(x)
        else:
            y_train = torch.nn.functional.dropout(x, p=p, training=True)
            y_eval = torch.nn.functional.dropout(x, p=p, training=False)
        return {"y_train": _np(y_train), "y_eval": _np(y_eval)}


class TorchAdapter(Adapter):
    framework = "torch"
    devices = ("cpu", "cuda")

    def load(self) -> None:
        torch = _torch()
        torch.set_num_threads(1)  # deterministic reductions; frameworks run side by side
        if self.device != "cpu":
            if not torch.cuda.is_available():
                raise RuntimeError(f"device {self.device!r} unavailable: torch "
                                   f"{torch.__version__} sees no CUDA device "
                                   f"(torch.version.cuda={torch.version.cuda})")
            index = torch.device(self.device).index or 0
            if index >= torch.cuda.device_count():
                raise RuntimeError(f"device {self.device!r} unavailable: "
                                   f"{torch.cuda.device_count()} CUDA device(s)")

    def version(self) -> str:
        return str(_torch().__version__).split("+")[0]

    def implementations(self) -> Sequence[Implementation]:
        dev = self.device
        impls: list[Implementation] = [
            BatchNormModule(name, "batchnorm", device=dev) for name in _RANKS
        ]
        impls.append(FunctionalBatchNorm("torch.nn.functional.batch_norm", "batchnorm",
                                         device=dev))
        # Centering cases are rank 2 and 4, so BatchNorm3d has none to run.
        impls += [BatchNormModule(name, "centering", device=dev)
                  for name in ("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d")]
        impls.append(BatchNormModule(MEAN_CENTERING, "centering", device=dev))
        impls += [DropoutImpl("torch.nn.Dropout", "dropout", device=dev),
                  DropoutImpl("torch.nn.functional.dropout", "dropout", device=dev)]
        return impls

    def documented(self) -> list[DocClaim]:
        torch = _torch()
        claims = [c for name in _RANKS for c in hyperparameter_defaults(
            name, getattr(torch.nn, name.rsplit(".", 1)[1]), epsilon="eps")]
        claims += hyperparameter_defaults("torch.nn.functional.batch_norm",
                                          torch.nn.functional.batch_norm, epsilon="eps")
        return claims + verified_claims("torch")

    def seed(self, seed: int) -> None:
        _torch().manual_seed(seed)  # seeds every CUDA device too

    def environment(self) -> dict[str, str]:
        torch = _torch()
        env = {"device": "cpu", "threads": str(torch.get_num_threads()),
               "build": str(torch.__version__)}
        if self.device != "cpu":
            dev = torch.device(self.device)
            index = dev.index or 0
            env.update(device=f"cuda:{index} ({torch.cuda.get_device_name(index)})",
                       cuda=str(torch.version.cuda),
                       cudnn=str(torch.backends.cudnn.version()),
                       cudnn_enabled=str(torch.backends.cudnn.enabled))
        return env
