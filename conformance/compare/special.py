"""Expected outputs of rows whose API arguments the plain oracle cannot express.

An adapter records the arguments it passes beyond the case's own
(:meth:`Implementation.config`, kept per result as ``config``). When they
change the computation (batch renormalization, ghost batches, alpha dropout,
dropout kept on at inference), the checks of that row compare against the
matching oracle, under the row's conventions; every other row gets ``None``
and the plain batch-norm or dropout oracle. The maths stays in
:mod:`conformance.oracle`; this module only reads the config.

Config keys understood (the framework's own argument names):

batchnorm
    ``renorm`` (bool), ``renorm_clipping`` (``rmin``/``rmax``/``dmax``),
    ``renorm_momentum`` (required: the oracle never assumes a default);
    ``virtual_batch_size`` (int), with ``ghost_grouping``
    (``strided``, tf_keras's, when absent).
dropout
    ``alpha_dropout`` (bool): SELU's alpha dropout; ``mode`` = ``always``: dropout
    applied at inference too (MXNet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.cases.model import Case
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do
from conformance.oracle import ghost
from conformance.oracle import renorm as rn


@dataclass(frozen=True)
class Variant:
    """Expected outputs of a special row, and how they were modelled (for the detail)."""

    outputs: dict[str, np.ndarray]
    model: str
    kept: np.ndarray | None = None  # dropout: training mask, where it is not "output != 0"


def applied_momentum(momentum: float | None, precision: str) -> float | None:
    """The momentum the framework effectively applies (the oracle's rounding rule)."""
    if momentum is None:
        return None
    return bn.applied_momentum(momentum, bn.Conventions(momentum_precision=precision))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def batchnorm(case: Case, config: Mapping[str, Any] | None, inputs: Mapping[str, np.ndarray],
              conv: bn.Conventions, momentum: float | None, eps: float,
              momentum_precision: str = "as_given") -> Variant | None:
    """Expected ``bn.sequence`` keys of a renorm or ghost-batch row, else ``None``.

    ``momentum_precision`` applies on float64 cases only, to every moving average
    the row keeps (renorm's own included: tf_keras updates both through
    ``_assign_moving_average``, BNB:865-886).
    """
    config = config or {}
    if not config.get("renorm") and config.get("virtual_batch_size") is None:
        return None
    if config.get("renorm") and config.get("virtual_batch_size") is not None:
        raise ValueError("renorm with virtual batches is not modelled")
    precision = momentum_precision if case.dtype == "float64" else "as_given"
    m = applied_momentum(momentum, precision)
    args = (inputs["train"], inputs["eval"], case.channel_axis, inputs["gamma"],
            inputs["beta"])
    if config.get("renorm"):
        if m is None:
            raise ValueError("batch renormalization has no cumulative-average momentum")
        if "renorm_momentum" not in config:  # never a documented default: the adapter says
            raise ValueError("a renorm row must declare the renorm_momentum it passes")
        renorm_momentum = applied_momentum(float(config["renorm_momentum"]), precision)
        assert renorm_momentum is not None
        clip = config.get("renorm_clipping") or {}
        params = rn.Renorm(_number(clip.get("rmin")), _number(clip.get("rmax")),
                           _number(clip.get("dmax")), renorm_momentum)
        model = (f"batch renormalization (rmin={params.rmin}, rmax={params.rmax}, "
                 f"dmax={params.dmax}, renorm_momentum={params.renorm_momentum:g})")
        return Variant(rn.sequence(*args, m, eps, conv, params), model)
    vbs = int(config["virtual_batch_size"])
    grouping = str(config.get("ghost_grouping", "strided"))
    return Variant(ghost.sequence(*args, m, eps, conv, vbs, grouping),
                   f"ghost batch norm (virtual_batch_size={vbs}, {grouping} virtual batches)")


StepCache = dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]


def running(case: Case, config: Mapping[str, Any] | None, inputs: Mapping[str, np.ndarray],
            conv: bn.Conventions, momentum: float | None, eps: float,
            momentum_precision: str = "as_given", cache: StepCache | None = None
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """Running mean and variance after each step of a special row (what the fit of its
    momentum convention reads), without computing its outputs where the model allows.
    ``cache``: ghost-batch step statistics by (case id, variance estimator)."""
    config = config or {}
    if config.get("virtual_batch_size") is not None and not config.get("renorm"):
        precision = momentum_precision if case.dtype == "float64" else "as_given"
        vbs, grouping = int(config["virtual_batch_size"]), str(
            config.get("ghost_grouping", "strided"))
        key = (case.id, conv.running_variance_update)
        if cache is not None and key not in cache:
            cache[key] = [ghost.step_statistics(x, case.channel_axis, vbs, conv, grouping)
                          for x in inputs["train"]]
        return ghost.running_statistics(
            inputs["train"], case.channel_axis, applied_momentum(momentum, precision), conv,
            vbs, grouping, steps=None if cache is None else cache[key])
    variant = batchnorm(case, config, inputs, conv, momentum, eps, momentum_precision)
    return None if variant is None else (variant.outputs["running_mean"],
                                         variant.outputs["running_var"])


def dropout(case: Case, config: Mapping[str, Any] | None, inputs: Mapping[str, np.ndarray],
            outputs: Mapping[str, np.ndarray], scale: str, inference: str,
            semantics: str, scale_precision: str = "as_given") -> Variant | None:
    """Expected ``y_train``/``y_eval`` of an alpha-dropout or dropout-at-inference row,
    conditional on the masks read off the outputs, else ``None``."""
    config = config or {}
    x = np.asarray(inputs["x"], dtype=np.float64)
    rate = float(case.get("rate"))  # type: ignore[arg-type]
    if config.get("alpha_dropout"):
        # The rate is the drop probability in the formula itself (alpha_dropout.py:77-84),
        # whatever the row's measured rate semantics.
        expected = {"y_eval": x}  # inference returns the input (alpha_dropout.py:92-94)
        kept = None
        if rate < 1.0 and "y_train" in outputs:
            kept = do.alpha_kept(outputs["y_train"], x, rate)
            expected["y_train"] = do.alpha_training_output(x, kept, rate)
        # At rate 1 the correction has no value (a = 0 ** -0.5): no y_train check; what
        # the layer does there is the row's ``rate_one`` behaviour.
        return Variant(expected, f"alpha dropout (SELU constants, rate {rate:g})", kept)
    if config.get("mode") == "always" or inference == "dropout_applied":
        expected = {"y_train": do.training_output(x, np.asarray(outputs["y_train"]) != 0, rate,
                                                  scale, semantics, scale_precision)} \
            if "y_train" in outputs else {}
        if "y_eval" in outputs:
            expected["y_eval"] = do.inference_output(
                x, rate, "dropout_applied", semantics, np.asarray(outputs["y_eval"]) != 0,
                scale, scale_precision)
        return Variant(expected, "dropout applied at inference (mask read off y_eval)")
    return None
