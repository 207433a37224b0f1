"""``tf.compat.v1.layers.batch_normalization`` in a TF1 graph with a ``Session``.

TF1 code updates the moving statistics only when the ops in the
``UPDATE_OPS`` collection run, which the documentation asks users to attach to
their train op. Two rows show both sides of that classic pitfall:

* ``[with_update_ops]``: ``train_op`` is built under
  ``tf.control_dependencies(update_ops)``, as the docstring says;
* ``[without_update_ops]``: the same train op without them; the moving
  statistics then never change (the ``never`` update trigger).

Building the graph costs far more than running it, and almost every case has a
signature of its own (momentum and epsilon are baked into the graph), so one
graph and ``Session`` serve both rows of a case: each row's train op is added to
it on first use, and the other row's is never run (see ``_graph``).

Gamma and beta come in through ``gamma_initializer`` and ``beta_initializer``,
so ``global_variables_initializer`` alone resets the graph for a run. A training
step is ``sess.run([y, train_op])`` with a gradient-descent optimizer at
learning rate 0 (gamma and beta stay put). ``mean_after_forward`` is read after
running ``y`` alone (in the same ``run`` as the frozen copy's output, which
touches other variables), ``mean_after_backward`` after a training step. Each
distinct set of fetches costs the session a new executor, so the probes reuse
the training loop's. With ``TF_USE_LEGACY_KERAS=1`` the function comes from ``tf_keras``
(tf_keras/src/legacy_tf_layers/normalization.py); it takes the fused kernel for
rank 4 and 5 input in float16/float32 (tf_keras/src/layers/normalization/
batch_normalization.py, ``_raise_if_fused_cannot_be_used`` and ``build``),
which the row name says as ``fused``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.adapters.base import Implementation, Outputs, Unsupported, hyperparameter_kwargs
from conformance.cases.model import Case

V1_BN = "tf.compat.v1.layers.batch_normalization"
_FLAG_ARGS: dict[str, dict[str, bool]] = {
    "scale_off": {"scale": False}, "center_off": {"center": False},
    "affine_off": {"center": False, "scale": False},
}


LEGACY_LAYERS = "tf_keras.api._v1.keras.__internal__.legacy.layers"


def v1_layers(tf: Any) -> Any:
    """The module behind ``tf.compat.v1.layers``.

    TensorFlow binds that name when ``tensorflow`` is first imported: to
    ``tf_keras`` if ``TF_USE_LEGACY_KERAS=1`` was set by then, else to Keras 3,
    which has no TF1 layers. When TensorFlow was imported earlier in the
    process (by another adapter or a test), fall back to the very module the
    legacy routing would give (the functions are the same objects).
    """
    try:
        tf.compat.v1.layers.batch_normalization  # noqa: B018
    except (AttributeError, ImportError):
        import importlib

        return importlib.import_module(LEGACY_LAYERS)
    return tf.compat.v1.layers


def takes_fused_path(case: Case) -> bool:
    """Whether the layer picks ``FusedBatchNormV3`` (channel axis is always 1 or last here)."""
    return len(case.shape) in (4, 5) and case.dtype != "float64"


def _layer_kwargs(case: Case) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"axis": case.channel_axis}
    kwargs.update(hyperparameter_kwargs(case, "tf.compat.v1.layers.batch_normalization"))
    flags = case.get("flags")
    if flags == "mean_only":
        raise Unsupported("batch_normalization always divides by the standard deviation")
    if flags is not None:
        kwargs.update(_FLAG_ARGS[str(flags)])
    return kwargs


class _GraphBN:
    """One graph: the training branch, the inference branch and a frozen copy.

    The train op, with or without the ``UPDATE_OPS``, is built on first use
    (:meth:`train_op`), so the graph serves both rows; running one never runs
    the other's ops.
    """

    def __init__(self, tf: Any, case: Case, inputs: Mapping[str, np.ndarray]) -> None:
        v1 = tf.compat.v1
        layers = v1_layers(tf)
        kwargs = {**_layer_kwargs(case),
                  "gamma_initializer": v1.constant_initializer(inputs["gamma"]),
                  "beta_initializer": v1.constant_initializer(inputs["beta"])}
        self._tf = tf
        self.graph = tf.Graph()
        with self.graph.as_default(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "`tf.layers...` is deprecated" UserWarnings
            self.x = v1.placeholder(case.dtype, shape=case.shape)
            self.y_train = layers.batch_normalization(self.x, training=True, name="bn",
                                                         **kwargs)
            self.y_eval = layers.batch_normalization(self.x, training=False, name="bn",
                                                        reuse=True, **kwargs)
            self._update_ops = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
            self.frozen = layers.batch_normalization(self.x, training=True, trainable=False,
                                                        name="bn_frozen", **kwargs)
            self._loss = tf.reduce_sum(self.y_train)
            self._variables = v1.trainable_variables()
            self.vars = {v.op.name: v for v in v1.global_variables()}
            self.init = v1.global_variables_initializer()
            self.fused = any(op.type.startswith("FusedBatchNorm")
                             for op in self.graph.get_operations())
        self._train_ops: dict[bool, Any] = {}
        self.sess = v1.Session(graph=self.graph)

    def train_op(self, with_update_ops: bool) -> Any:
        """Gradient descent (learning rate 0) on the loss, under ``control_dependencies(
        update_ops)`` when ``with_update_ops``, as the docstring asks, else without."""
        if with_update_ops not in self._train_ops:
            tf, v1 = self._tf, self._tf.compat.v1
            with self.graph.as_default(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                deps = self._update_ops if with_update_ops else []
                with tf.control_dependencies(deps):
                    ops = [*v1.gradients(self._loss, [self.x])]
                    if self._variables:
                        optimizer = v1.train.GradientDescentOptimizer(learning_rate=0.0)
                        ops.append(optimizer.minimize(self._loss, var_list=self._variables))
                    self._train_ops[with_update_ops] = tf.group(*ops)
        return self._train_ops[with_update_ops]

    def reset(self) -> None:
        """Every variable back to its initial value (gamma and beta: the case's)."""
        self.sess.run(self.init)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        mean, var = self.sess.run([self.vars["bn/moving_mean"], self.vars["bn/moving_variance"]])
        return np.asarray(mean), np.asarray(var)

    def close(self) -> None:
        self.sess.close()


# The graph of the case being run, shared by both rows (they run one after the other
# on each case); replaced, and its session closed, when the next case needs another.
_current: dict[tuple[Any, ...], _GraphBN] = {}


def _graph(case: Case, inputs: Mapping[str, np.ndarray]) -> _GraphBN:
    """The case's graph and session; everything the graph bakes in (shape, dtype, axis,
    momentum, epsilon, flags, gamma and beta) is in the key, and ``reset``
    re-initializes the variables per run, so a reused graph starts from the same
    state as a new one."""
    import tensorflow as tf

    key = (case.shape, case.dtype, tuple(sorted(_layer_kwargs(case).items())),
           inputs["gamma"].tobytes(), inputs["beta"].tobytes())
    if key not in _current:
        for old in _current.values():
            old.close()
        _current.clear()
        _current[key] = _GraphBN(tf, case, inputs)
    return _current[key]


class V1LayersBatchNorm(Implementation):
    """``tf.compat.v1.layers.batch_normalization`` with or without its UPDATE_OPS."""

    def __init__(self, op: str, with_update_ops: bool) -> None:
        # Distinct names: the loader keys results by (case, name, op).
        mode = "with_update_ops" if with_update_ops else "without_update_ops"
        super().__init__(f"{V1_BN}[{mode}]", op)
        self.with_update_ops = with_update_ops

    def demonstration(self, case: Case) -> str:
        if self.with_update_ops:
            return ""
        return ("the train op is built without the UPDATE_OPS the docstring says must run "
                "with it, as a user who forgets tf.control_dependencies(update_ops) does: "
                "the moving statistics never change")

    def qualify(self, case: Case) -> str:
        parts = ["with_update_ops" if self.with_update_ops else "without_update_ops"]
        if takes_fused_path(case):
            parts.append("fused")
        parts += [f"{k}=False" for k in sorted(_FLAG_ARGS.get(str(case.get("flags")), {}))]
        return f"{V1_BN}[{','.join(parts)}]"

    def supports(self, case: Case) -> str | None:
        if case.get("momentum") == "none":
            return "no cumulative-average momentum"
        if case.get("flags") == "mean_only":
            return "batch_normalization always divides by the standard deviation"
        return None

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        g = _graph(case, inputs)
        if g.fused != takes_fused_path(case):
            raise RuntimeError(f"row says fused={takes_fused_path(case)}, graph has "
                               f"fused={g.fused}: update takes_fused_path()")
        train_op = g.train_op(self.with_update_ops)
        g.reset()
        ys, rms, rvs = [], [], []
        for x in inputs["train"]:
            y, _ = g.sess.run([g.y_train, train_op], {g.x: x})
            ys.append(np.asarray(y))
            rm, rv = g.stats()
            rms.append(rm)
            rvs.append(rv)
        out: Outputs = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
                        "running_var": np.stack(rvs),
                        "y_eval": np.asarray(g.sess.run(g.y_eval, {g.x: inputs["eval"]}))}
        g.reset()
        x0 = inputs["train"][0]
        frozen, _ = g.sess.run([g.frozen, g.y_train], {g.x: x0})
        out["frozen_train"] = np.asarray(frozen)
        out["mean_after_forward"] = g.stats()[0]
        g.sess.run([g.y_train, train_op], {g.x: x0})
        out["mean_after_backward"] = g.stats()[0]
        return out
