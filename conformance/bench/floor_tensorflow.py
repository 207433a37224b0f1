"""Floor of the tensorflow rows: the TensorFlow op calls the adapter makes, on the same
inputs and as many times, with no suite machinery around them.

Per batch-norm or centering case: the ``tf.nn.moments`` +
``tf.nn.batch_normalization`` recipe (eager steps in a ``GradientTape``,
inference, a probe step); for rank 4/5 non-float64 batch-norm cases the
``tf.compat.v1.nn.fused_batch_norm`` kernel (steps, inference, probe, one
batch-variance call); and ``tf.compat.v1.layers.batch_normalization`` in a TF1
graph run by a ``Session`` (steps, inference, frozen, probe forward and train
op), with and without its UPDATE_OPS. Dropout cases call ``tf.nn.dropout``,
``tf.compat.v1.nn.dropout`` and ``tf.compat.v1.layers.dropout`` (train and eval).

What an expert loop would reuse, and this floor does: one TF1 graph and
``Session`` per signature (shape, dtype, constructor arguments, with or without
update ops), re-initialized per case with ``global_variables_initializer`` and
the case's gamma and beta assigned through placeholders: building a graph is
what a TF1 user does once, then feeds it.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

T0 = time.perf_counter()
import contextlib  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from conformance.bench.floor_io import cases, cases_dir_arg, channel_axis, emit  # noqa: E402

T1 = time.perf_counter()
v1 = tf.compat.v1
FLAGS = {"scale_off": {"scale": False}, "center_off": {"center": False},
         "affine_off": {"center": False, "scale": False}}
GRAPHS: dict[tuple[object, ...], dict[str, Any]] = {}


def _fl(p: dict[str, Any], key: str, default: float) -> float:
    return default if p.get(key) == "default" else float(p[key])


def _recipe(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    shape, ax = list(p["shape"]), channel_axis(p)
    decay, eps = _fl(p, "momentum", 0.99), _fl(p, "epsilon", 1e-3)
    axes = [a for a in range(len(shape)) if a != ax]
    bshape = [1] * len(shape)
    bshape[ax] = shape[ax]
    off = {"scale_off": ("scale",), "center_off": ("offset",),
           "affine_off": ("offset", "scale")}.get(str(p.get("flags")), ())
    scale = None if "scale" in off else tf.constant(x["gamma"].reshape(bshape))
    offset = None if "offset" in off else tf.constant(x["beta"].reshape(bshape))
    params = [t for t in (scale, offset) if t is not None]

    def fresh() -> tuple[Any, Any]:
        return (tf.Variable(tf.zeros(bshape, p["dtype"])),
                tf.Variable(tf.ones(bshape, p["dtype"])))

    def step(a: np.ndarray, ema: tuple[Any, Any]) -> Any:
        xt = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            mean, var = tf.nn.moments(xt, axes=axes, keepdims=True)
            y = tf.nn.batch_normalization(xt, mean, var, offset, scale, eps)
            ema[0].assign(decay * ema[0] + (1 - decay) * mean)
            ema[1].assign(decay * ema[1] + (1 - decay) * var)
            loss = tf.reduce_sum(y)
        tape.gradient(loss, [xt, *params])
        return y

    ema = fresh()
    for a in x["train"]:
        step(a, ema).numpy()
        ema[0].numpy(), ema[1].numpy()
    tf.nn.batch_normalization(tf.constant(x["eval"]), ema[0], ema[1], offset, scale,
                              eps).numpy()
    probe = fresh()
    step(x["train"][0], probe)
    probe[0].numpy()
    return len(x["train"]) + 2


def _fused(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    fn = v1.nn.fused_batch_norm
    rank, ax = len(p["shape"]), channel_axis(p)
    fmt = {(4, 1): "NCHW", (4, 3): "NHWC", (5, 1): "NCDHW", (5, 4): "NDHWC"}[(rank, ax)]
    pdt = "float32" if p["dtype"] == "float16" else str(p["dtype"])
    kw: dict[str, Any] = {"data_format": fmt}
    if p.get("epsilon") != "default":
        kw["epsilon"] = float(p["epsilon"])
    averaged = p.get("momentum") != "default"
    if averaged:
        kw["exponential_avg_factor"] = float(p["momentum"])
    scale, offset = tf.constant(x["gamma"].astype(pdt)), tf.constant(x["beta"].astype(pdt))
    c = x["gamma"].shape[0]

    def step(a: np.ndarray, rm: Any, rv: Any) -> tuple[Any, Any, Any]:
        xt = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            stats = {"mean": rm, "variance": rv} if averaged else {}
            y, m, v = fn(xt, scale, offset, is_training=True, **stats, **kw)
            loss = tf.reduce_sum(y)
        tape.gradient(loss, [scale, offset])
        return y, m, v

    rm, rv = tf.zeros(c, pdt), tf.ones(c, pdt)
    for a in x["train"]:
        y, rm, rv = step(a, rm, rv)
        y.numpy(), rm.numpy(), rv.numpy()
    infer = {key: v for key, v in kw.items() if key != "exponential_avg_factor"}
    fn(tf.constant(x["eval"]), scale, offset, mean=rm, variance=rv, is_training=False,
       **infer)[0].numpy()
    step(x["train"][0], tf.zeros(c, pdt), tf.ones(c, pdt))[1].numpy()
    fn(tf.constant(x["train"][0]), scale, offset, is_training=True, **infer)[2].numpy()
    return len(x["train"]) + 3


def _graph(p: dict[str, Any], update: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {"axis": channel_axis(p), **FLAGS.get(str(p.get("flags")), {})}
    if p.get("momentum") != "default":
        kw["momentum"] = float(p["momentum"])
    if p.get("epsilon") != "default":
        kw["epsilon"] = float(p["epsilon"])
    key = (tuple(p["shape"]), p["dtype"], tuple(sorted(kw.items())), update)
    if key in GRAPHS:
        return GRAPHS[key]
    g: dict[str, Any] = {"graph": tf.Graph()}
    with g["graph"].as_default():
        xp = v1.placeholder(p["dtype"], shape=p["shape"])
        y = v1.layers.batch_normalization(xp, training=True, name="bn", **kw)
        ye = v1.layers.batch_normalization(xp, training=False, name="bn", reuse=True, **kw)
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        frozen = v1.layers.batch_normalization(xp, training=True, trainable=False,
                                               name="bn_frozen", **kw)
        loss = tf.reduce_sum(y)
        variables = v1.trainable_variables()
        opt = v1.train.GradientDescentOptimizer(learning_rate=0.0)

        def train_op() -> Any:
            ops = [*v1.gradients(loss, [xp])]
            if variables:
                ops.append(opt.minimize(loss, var_list=variables))
            return tf.group(*ops)

        if update:
            with tf.control_dependencies(updates):
                op = train_op()
        else:
            op = train_op()
        var = {v.op.name: v for v in v1.global_variables()}
        assign = {}
        for name in ("bn/gamma", "bn/beta", "bn_frozen/gamma", "bn_frozen/beta"):
            if name in var:
                ph = v1.placeholder(var[name].dtype.base_dtype,
                                    shape=(p["shape"][channel_axis(p)],))
                assign[name] = (ph, var[name].assign(ph))
        g.update(x=xp, y=y, ye=ye, frozen=frozen, op=op, init=v1.global_variables_initializer(),
                 assign=assign, stats=[var["bn/moving_mean"], var["bn/moving_variance"]])
    g["sess"] = v1.Session(graph=g["graph"])
    GRAPHS[key] = g
    return g


def _v1(p: dict[str, Any], x: dict[str, np.ndarray], update: bool) -> int:
    g = _graph(p, update)
    sess, xp = g["sess"], g["x"]

    def reset() -> None:
        sess.run(g["init"])
        for name, (ph, op) in g["assign"].items():
            sess.run(op, {ph: x[name.rsplit("/", 1)[1]].astype(ph.dtype.as_numpy_dtype)})

    reset()
    for a in x["train"]:
        sess.run([g["y"], g["op"]], {xp: a})
        sess.run(g["stats"])
    sess.run(g["ye"], {xp: x["eval"]})
    reset()
    x0 = x["train"][0]
    sess.run(g["frozen"], {xp: x0})
    sess.run(g["y"], {xp: x0})
    sess.run(g["stats"])
    sess.run(g["op"], {xp: x0})
    sess.run(g["stats"])
    return len(x["train"]) + 4


def _dropout(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    a, rate, noise = tf.constant(x["x"]), float(p["rate"]), p.get("noise_shape")
    calls = 0
    for run in (lambda: tf.nn.dropout(a, rate=rate, noise_shape=noise).numpy(),
                lambda: v1.nn.dropout(a, keep_prob=rate, noise_shape=noise).numpy(),
                lambda: (v1.layers.dropout(a, rate=rate, noise_shape=noise, training=True)
                         .numpy(),
                         v1.layers.dropout(a, rate=rate, noise_shape=noise, training=False)
                         .numpy())):
        with contextlib.suppress(ValueError):  # rate or keep_prob out of range: recorded too
            run()
        calls += 1
    return calls


def main() -> None:
    warnings.simplefilter("ignore")  # TF1 deprecation warnings, silenced by the adapter too
    tf.config.threading.set_intra_op_parallelism_threads(1)  # as the adapter does
    tf.config.threading.set_inter_op_parallelism_threads(1)
    calls = n = 0
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        tf.random.set_seed(record["seed"])
        np.random.seed(record["seed"] % 2**32)
        if record["op"] == "dropout":
            calls += _dropout(p, x)
            continue
        if p.get("momentum") == "none" or p.get("flags") == "mean_only":
            continue
        runs = [partial(_recipe, p, x), partial(_v1, p, x, True)]
        if record["op"] == "batchnorm":
            runs.append(partial(_v1, p, x, False))
            if len(p["shape"]) in (4, 5) and p["dtype"] != "float64":
                runs.append(partial(_fused, p, x))
        for run in runs:
            try:
                calls += run()
            except Exception:  # the adapter records the same error
                calls += 1
    emit("tensorflow", T0, T1, calls, n)


if __name__ == "__main__":
    main()
