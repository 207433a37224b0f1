"""Equivalent forms of one framework: the pairing table and the second oracle.

Two forms of the same computation (a layer and its functional op, eager and graph,
a module and its ONNX export) must agree in *status* (raises, NaN, all zeros, an
output) and, where the table says so, in value within twice the case's tolerance
(each may err by one tolerance). Dropout masks are random, so dropout pairs compare
status and the inference output only. Names are base implementation names, as the
adapters register them (``base`` in each result record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BN_ALL = ("y_train", "running_mean", "running_var", "y_eval")
BN_OUTPUT = ("y_train",)
DO_EVAL = ("y_eval",)


@dataclass(frozen=True)
class Pair:
    framework_a: str
    base_a: str
    framework_b: str
    base_b: str
    op: str
    keys: tuple[str, ...]  # outputs whose values must agree
    why: str


def _p(fa: str, a: str, fb: str, b: str, op: str, keys: tuple[str, ...], why: str) -> Pair:
    return Pair(fa, a, fb, b, op, keys, why)


_KERAS = [p for fw in ("keras", "keras_jax", "keras_torch") for p in (
    _p(fw, "keras.layers.BatchNormalization", fw, "keras.layers.BatchNormalization[fit]",
       "batchnorm", BN_ALL, "eager call vs model.fit (graph/jit) of the same layer"),
    _p(fw, "keras.layers.BatchNormalization", fw, "keras.ops.batch_normalization",
       "batchnorm", BN_OUTPUT, "the layer vs keras.ops.moments + batch_normalization"))]
PAIRS: tuple[Pair, ...] = (
    *(_p("torch", f"torch.nn.BatchNorm{d}d", "torch", "torch.nn.functional.batch_norm",
         "batchnorm", BN_ALL, "module vs functional form") for d in (1, 2, 3)),
    _p("torch", "torch.nn.Dropout", "torch", "torch.nn.functional.dropout", "dropout",
       DO_EVAL, "module vs functional form"),
    _p("torch", "torch.nn.BatchNorm2d", "onnxruntime",
       "torch.onnx.export(BatchNorm2d)[training=TRAINING]->onnxruntime", "batchnorm",
       BN_OUTPUT, "the module vs its ONNX export (torch 2.13.0 in both environments)"),
    _p("torch", "torch.nn.BatchNorm2d", "onnxruntime",
       "torch.onnx.export(BatchNorm2d)[training=EVAL]->onnxruntime", "batchnorm",
       ("y_eval",), "the module vs its ONNX export in eval mode"),
    *_KERAS,
    *(_p(fw, "keras.layers.Dropout", fw2, "keras.layers.Dropout", "dropout", DO_EVAL,
         "one Keras layer on two backends") for fw, fw2 in (("keras", "keras_jax"),
                                                             ("keras", "keras_torch"))),
    _p("keras", "keras.layers.BatchNormalization", "keras_torch",
       "keras.layers.BatchNormalization", "batchnorm", BN_OUTPUT,
       "one Keras layer on two backends"),
    _p("keras", "keras.layers.BatchNormalization", "keras_jax",
       "keras.layers.BatchNormalization", "batchnorm", BN_OUTPUT,
       "one Keras layer on two backends"),
    _p("tf_keras", "tf_keras.layers.BatchNormalization", "tf_keras",
       "tf_keras.layers.BatchNormalization[fused=False]", "batchnorm", BN_ALL,
       "fused kernel (where the input allows) vs fused=False"),
    _p("tf_keras", "tf_keras.layers.BatchNormalization", "tf_keras",
       "tf_keras.layers.BatchNormalization[fit]", "batchnorm", BN_ALL,
       "eager call vs model.fit (tf.function)"),
    _p("tensorflow", "tf.compat.v1.layers.batch_normalization[with_update_ops]", "tensorflow",
       "tf.compat.v1.nn.fused_batch_norm", "batchnorm", BN_OUTPUT,
       "v1 layer vs the fused op"),
    _p("tensorflow", "tf.nn.batch_normalization", "tensorflow",
       "tf.compat.v1.nn.fused_batch_norm", "batchnorm", BN_OUTPUT,
       "tf.nn.moments + batch_normalization vs the fused op"),
    _p("tensorflow", "tf.nn.dropout", "tensorflow", "tf.compat.v1.layers.dropout", "dropout",
       DO_EVAL, "op vs v1 layer"),
    # (tf.compat.v1.nn.dropout[keep_prob] is not paired: the adapter passes the case's rate
    # as keep_prob on purpose, to show what that misreading does.)
    _p("mxnet", "mxnet.gluon.nn.BatchNorm", "mxnet", "mxnet.nd.BatchNorm[fix_gamma=False]",
       "batchnorm", BN_ALL, "gluon block vs the nd operator it calls"),
    _p("mxnet", "mxnet.gluon.nn.Dropout", "mxnet", "mxnet.nd.Dropout", "dropout", DO_EVAL,
       "gluon block vs nd operator"),
    _p("flax", "flax.linen.BatchNorm", "flax", "flax.nnx.BatchNorm", "batchnorm", BN_ALL,
       "linen vs nnx"),
    _p("flax", "flax.linen.Dropout", "flax", "flax.nnx.Dropout", "dropout", DO_EVAL,
       "linen vs nnx"),
    _p("paddle", "paddle.nn.Dropout", "paddle", "paddle.nn.functional.dropout", "dropout",
       DO_EVAL, "layer vs functional"),
    _p("onnxruntime", "onnx.BatchNormalization[opset=14,training_mode=1]", "onnxruntime",
       "onnx.BatchNormalization[opset=15,training_mode=1]", "batchnorm", BN_ALL,
       "the same node at two opsets"),
    _p("onnxruntime", "onnx.Dropout[opset=12]", "onnxruntime", "onnx.Dropout[opset=13]",
       "dropout", DO_EVAL, "the same node at two opsets"),
)


def status_class(record: Mapping[str, Any], outputs: Mapping[str, np.ndarray] | None) -> str:
    """``raises`` / ``crash`` / ``timeout`` / ``unsupported``, else what the training
    output is: ``nan`` (any NaN), ``inf``, ``zeros`` (all zero) or ``output``."""
    status = str(record["status"])
    if status != "ok":
        return {"error": "raises"}.get(status, status)
    y = np.asarray((outputs or {}).get("y_train", np.zeros(1) + 1), dtype=np.float64)
    if np.isnan(y).any():
        return "nan"
    if np.isinf(y).any():
        return "inf"
    if y.size and not y.any():
        return "zeros"
    return "output"


def pairs_for(frameworks: Iterable[str]) -> list[Pair]:
    """The pairs whose both sides run among ``frameworks``."""
    have = set(frameworks)
    return [p for p in PAIRS if p.framework_a in have and p.framework_b in have]
