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

import numpy as np

from conformance.adapters.base import Adapter, DocClaim, Implementation, Outputs
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
