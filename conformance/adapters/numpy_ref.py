"""The oracle as an implementation row: it runs every case and must agree with itself.

The row exists so that a broken comparison or inference step shows up as the
oracle disagreeing with itself, not as a framework discrepancy. Its
conventions, which conformance/claims/numpy.toml quotes (Ioffe & Szegedy 2015
with PyTorch-style momentum):

- batch norm normalizes with the biased batch variance;
- the running variance folds in the unbiased batch variance;
- epsilon is added inside the square root: (x - mean) / sqrt(var + eps) * gamma + beta;
- running = (1 - momentum) * running + momentum * batch, updated on forward;
- inference uses the running statistics;
- default momentum 0.1, default epsilon 1e-5;
- dropout drops with probability rate and scales kept elements by 1 / (1 - rate);
- dropout in inference is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from conformance.adapters.base import (
    Adapter,
    DocClaim,
    Implementation,
    Outputs,
    Portable,
    Variable,
)
from conformance.adapters.documented import verified_claims
from conformance.arrays import round_to_dtype
from conformance.cases.model import Case, epsilon_of, momentum_of
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do

REFERENCE = bn.Conventions(momentum_convention="weight_on_new")
"""Reference conventions of the oracle row.

Normalizes with the biased variance, folds the unbiased variance into the
running variance, puts epsilon inside the square root, applies gamma, updates
on forward with running = (1 - momentum) * running + momentum * batch, and uses
running statistics in inference. Defaults: momentum 0.1, epsilon 1e-5.
"""
DEFAULT_MOMENTUM = 0.1
DEFAULT_EPSILON = 1e-5

_FLAGS = {
    "mean_only": {"variance_normalized": False, "gamma_applied": False},
    "scale_off": {"gamma_applied": False},
    "center_off": {"offset_applied": False},
    "affine_off": {"gamma_applied": False, "offset_applied": False},
}


class OracleBatchNorm(Implementation):
    """The row is named after the function it runs, ``conformance.oracle.batchnorm.sequence``
    (an API that exists), qualified by the centering flags it models."""

    def qualify(self, case: Case) -> str:
        flags = case.get("flags")
        return f"{self.name}[{flags}]" if flags else self.name

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        conv = REFERENCE.with_(**_FLAGS.get(str(case.get("flags")), {}))
        out = bn.sequence(inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
                          inputs["beta"], momentum_of(case, DEFAULT_MOMENTUM),
                          epsilon_of(case, DEFAULT_EPSILON), conv)
        first = bn.sequence(inputs["train"][:1], inputs["eval"], case.channel_axis,
                            inputs["gamma"], inputs["beta"],
                            momentum_of(case, DEFAULT_MOMENTUM),
                            epsilon_of(case, DEFAULT_EPSILON), conv)
        out["mean_after_forward"] = first["running_mean"][0]
        out["mean_after_backward"] = first["running_mean"][0]
        return {k: round_to_dtype(v, case.dtype) for k, v in out.items()}


    def portable(self) -> Portable | None:
        return NumpyPort() if self.op == "batchnorm" else None


@dataclass
class OracleLayer:
    """A batch-norm layer held as plain arrays: what a hand-written NumPy predictor keeps."""

    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    momentum: float | None
    epsilon: float
    channel_axis: int
    conv: bn.Conventions
    dtype: str
    steps: int = 0


def conventions_from(values: Mapping[str, Any]) -> bn.Conventions:
    """``bn.Conventions`` from a JSON mapping of its fields (unknown keys refused)."""
    known = {f.name for f in fields(bn.Conventions)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"not oracle conventions: {', '.join(unknown)}")
    return bn.Conventions(**dict(values))


class NumpyPort(Portable):
    """The oracle as a port target: the layer's inference and training are the oracle's
    functions under ``conventions`` (a convention card's values; the reference
    conventions when none are given). No maths of its own: every step calls
    ``conformance.oracle.batchnorm``."""

    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        return {"channel_axis": channel_axis,
                "momentum": None if momentum == "none" else
                DEFAULT_MOMENTUM if momentum == "default" else float(momentum),
                "epsilon": DEFAULT_EPSILON if epsilon == "default" else float(epsilon)}

    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        c = shape[arguments["channel_axis"]]
        conv = conventions_from(arguments.get("conventions") or {}) \
            if arguments.get("conventions") else REFERENCE
        return OracleLayer(np.ones(c), np.zeros(c), np.zeros(c), np.ones(c),
                           arguments["momentum"], arguments["epsilon"],
                           arguments["channel_axis"], conv, dtype)

    def read(self, layer: Any) -> list[Variable]:
        return [Variable(role, role, round_to_dtype(getattr(layer, role), layer.dtype))
                for role in ("gamma", "beta", "running_mean", "running_var")]

    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        for role in ("gamma", "beta", "running_mean", "running_var"):
            if role in values:
                setattr(layer, role, np.asarray(values[role], dtype=np.float64).copy())

    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        y = bn.inference(x, layer.running_mean, layer.running_var, layer.gamma, layer.beta,
                         layer.epsilon, layer.conv, layer.channel_axis)
        return round_to_dtype(y, layer.dtype)

    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        y = bn.training_output(x, layer.channel_axis, layer.epsilon, layer.gamma,
                               layer.beta, layer.conv)
        rms, rvs = bn.running_statistics(x[None], layer.channel_axis, layer.momentum,
                                         layer.conv, layer.running_mean, layer.running_var,
                                         start=layer.steps + 1)
        layer.running_mean, layer.running_var = rms[-1], rvs[-1]
        layer.steps += 1
        return round_to_dtype(y, layer.dtype)

    def row(self, layer: Any) -> str:
        return "conformance.oracle.batchnorm.sequence"


class OracleDropout(Implementation):
    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        x = inputs["x"]
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        noise = case.get("noise_shape")
        mask_shape = tuple(noise) if isinstance(noise, tuple) else x.shape
        rng = np.random.default_rng(case.seed)
        kept = np.broadcast_to(rng.random(mask_shape) >= rate, x.shape)
        y = do.training_output(x, kept, rate, "inverse_keep")
        return {"y_train": round_to_dtype(y, case.dtype),
                "y_eval": round_to_dtype(do.inference_output(x, rate, "identity"), case.dtype)}


class NumpyAdapter(Adapter):
    framework = "numpy"

    def load(self) -> None:
        pass

    def version(self) -> str:
        return np.__version__

    def implementations(self) -> Sequence[Implementation]:
        return [OracleBatchNorm("conformance.oracle.batchnorm.sequence", "batchnorm"),
                OracleBatchNorm("conformance.oracle.batchnorm.sequence", "centering"),
                OracleDropout("conformance.oracle.dropout", "dropout")]

    def documented(self) -> list[DocClaim]:
        return verified_claims("numpy")
