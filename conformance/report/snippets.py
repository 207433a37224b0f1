"""Copy-pasteable snippets that reproduce one case with the framework alone.

One small generator per framework. Each snippet first rebuilds the case's
arrays: embedded literally when they are small, else by the seeded recipe that
drew them (:func:`recipe`, the same draws as ``cases.families.inputs_for``;
tests/test_report_html.py checks that the two stay equal), then runs the API
the way the adapter does and prints the outputs the suite compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

import numpy as np

from conformance.adapters.base import RECIPE_PREFIX
from conformance.cases.model import Case
from conformance.environments import ADAPTERS

EMBED_LIMIT = 200  # values; larger inputs are rebuilt from the seed
DROP_PRINT = ("print('dropped fraction', (y == 0).mean(), "
              "'kept scale', (y[y != 0] / x[y != 0]).mean())")
STATS_PRINT = "print(step, 'running_mean', {0}, 'running_var', {1})\n"


def _name(text: str) -> str:
    """An implementation name made safe to sit in a Python comment or string."""
    return re.sub(r"[^\w.\[\]=,:-]", "_", text)[:120]


def _literal(name: str, a: np.ndarray) -> str:
    values = ", ".join(str(v) for v in a.ravel())
    return f"{name} = np.array([{values}], dtype='{a.dtype.name}').reshape({a.shape})"


def recipe(case: Case) -> str:
    """NumPy lines that draw the case's arrays from its seed, as the suite did."""
    # bfloat16: float32 arrays holding bfloat16 values, as the suite stores them
    bf16 = case.dtype == "bfloat16"
    dt = "ml_dtypes.bfloat16).astype('float32'" if bf16 else f"'{case.dtype}'"
    head = ("import ml_dtypes\n" if bf16 else "") + f"rng = np.random.default_rng({case.seed})\n"
    if case.op == "dropout":
        return head + f"x = (1.0 + rng.random({case.shape})).astype({dt})"
    offset = float(case.get("offset", 0.0) or 0.0)  # type: ignore[arg-type]
    spread = float(case.get("spread", 1.0) or 1.0)  # type: ignore[arg-type]
    shape = [1] * len(case.shape)
    shape[case.channel_axis] = case.channels
    tiny = case.get("tiny_mean")
    special = {"zero_variance": "std.flat[0] = 0.0\nstd.flat[1] = 1e-5\n",
               "tiny_variance": "std.flat[1] = 1e-3\n" + (
                   f"mean.flat[1] = {float(tiny)!r}\n" if tiny is not None else ""),  # type: ignore[arg-type]
               "centred": "mean[...] = 0.0\n"}.get(str(case.get("special")), "")
    return (head +
            f"mean = ({offset!r} + {spread!r} * rng.uniform(-1, 1, {case.channels}))"
            f".reshape({tuple(shape)})\n"
            f"std = ({spread!r} * rng.uniform(0.5, 1.5, {case.channels})).reshape({tuple(shape)})\n"
            f"{special}"
            f"def draw():\n    return (mean + std * rng.standard_normal({case.shape}))"
            f".astype({dt})\n"
            f"train = np.stack([draw() for _ in range({case.steps})])\n"
            f"eval_x = draw()\n"
            f"gamma = rng.uniform(0.5, 2.0, {case.channels}).astype({dt})\n"
            f"beta = rng.uniform(-1.0, 1.0, {case.channels}).astype({dt})")


def arrays_block(case: Case, inputs: Mapping[str, np.ndarray] | None) -> str:
    names = {"x": "x"} if case.op == "dropout" else {
        "train": "train", "eval": "eval_x", "gamma": "gamma", "beta": "beta"}
    if inputs is not None and all(k in inputs for k in names) and \
            sum(inputs[k].size for k in names) <= EMBED_LIMIT:
        return "\n".join(_literal(v, np.asarray(inputs[k])) for k, v in names.items())
    return recipe(case)


def _num(case: Case, key: str) -> float | str | None:
    """The case's value for ``key`` as an argument: None when the default is used."""
    v = case.get(key)
    if v == "default":
        return None
    return "None" if v == "none" else float(v)  # type: ignore[arg-type]


def _kwargs(case: Case, names: Mapping[str, str], extra: Mapping[str, object] = {}) -> str:
    parts = [f"{k}={v!r}" for k, v in extra.items()]
    for key, arg in names.items():
        v = _num(case, key)
        if v is not None:
            parts.append(f"{arg}={v}" if v == "None" else f"{arg}={v!r}")
    return ", ".join(parts)


def _torch(impl: str, case: Case) -> str:
    if case.op == "dropout":
        call = ("torch.nn.Dropout(p={r})(x_t)" if "functional" not in impl
                else "torch.nn.functional.dropout(x_t, p={r}, training=True)")
        return ("import torch\nx_t = torch.from_numpy(x)\n"
                f"y = {call.format(r=case.get('rate'))}.numpy()\n" + DROP_PRINT)
    kw = _kwargs(case, {"momentum": "momentum", "epsilon": "eps"})
    comma_kw = f", {kw}" if kw else ""
    if "functional" in impl:
        return ("import torch\nF = torch.nn.functional\nt = torch.from_numpy\n"
                f"rm, rv = torch.zeros({case.channels}, dtype=torch.{case.dtype}), "
                f"torch.ones({case.channels}, dtype=torch.{case.dtype})\n"
                "for step, x in enumerate(train, 1):\n"
                f"    F.batch_norm(t(x), rm, rv, t(gamma), t(beta), training=True{comma_kw})\n"
                "    " + STATS_PRINT.format("rm.numpy()", "rv.numpy()") +
                f"print('y_eval', F.batch_norm(t(eval_x), rm, rv, t(gamma), t(beta), "
                f"training=False{comma_kw}).numpy())")
    cls = impl.split("[", maxsplit=1)[0]
    flags = {"affine_off": "affine=False", "center_off": "bias=False"}.get(str(case.get("flags")))
    args = ", ".join(a for a in (str(case.channels), kw, flags or "") if a)
    return ("import torch\nt = torch.from_numpy\n"
            f"m = {cls}({args}).to(torch.{case.dtype})\n"
            "with torch.no_grad():\n"
            "    if m.weight is not None: m.weight.copy_(t(gamma))\n"
            "    if m.bias is not None: m.bias.copy_(t(beta))\n"
            "m.train()\nfor step, x in enumerate(train, 1):\n"
            "    m(t(x).requires_grad_()).sum().backward()\n"
            "    " + STATS_PRINT.format("m.running_mean.numpy()", "m.running_var.numpy()") +
            "m.eval()\nprint('y_eval', m(t(eval_x)).detach().numpy())")


# Qualifiers that name the path a row took or its dtype, not an argument the user passes.
_KERAS_TAGS = frozenset({"fused", "non_fused", "float64"})


def _keras_qualifiers(impl: str) -> tuple[dict[str, str], set[str]] | None:
    """The row's constructor arguments (``[center=False]``, ``[virtual_batch_size=2]``,
    ``[renorm,rmin=1,...]``) as source text, and its tags (``fit``); None for a qualifier
    this generator cannot write (the snippet then runs the suite's row)."""
    kwargs: dict[str, str] = {}
    clipping: dict[str, float] = {}
    tags: set[str] = set()
    for q in filter(None, impl.partition("[")[2].rstrip("]").split(",")):
        key, sep, value = q.partition("=")
        if key in ("rmin", "rmax", "dmax"):
            clipping[key] = float(value)
        elif sep:
            kwargs[key] = value
        elif key == "renorm":
            from conformance.adapters.tfkeras.batchnorm import RENORM_MOMENTUM

            kwargs.update(renorm="True", renorm_momentum=repr(RENORM_MOMENTUM))
        elif key == "fit":
            tags.add(key)
        elif key not in _KERAS_TAGS:
            return None
    if clipping:
        kwargs["renorm_clipping"] = repr(clipping)
    return kwargs, tags


def _keras_ops(conv: str, case: Case) -> str:
    """``keras.ops.moments`` + ``keras.ops.batch_normalization`` with the EMA a caller keeps
    (the row's own recipe: the layer's default decay and epsilon where the case has none)."""
    from conformance.adapters.keras3 import _OPS_FLAGS, OPS_DEFAULTS
    from conformance.oracle.batchnorm import reduce_axes

    m, e = case.get("momentum"), case.get("epsilon")
    decay = OPS_DEFAULTS["decay"] if m == "default" else float(m)  # type: ignore[arg-type]
    eps = OPS_DEFAULTS["epsilon"] if e == "default" else float(e)  # type: ignore[arg-type]
    off = _OPS_FLAGS.get(str(case.get("flags")), ())
    scale = "None" if "scale" in off else "t(gamma)"
    offset = "None" if "offset" in off else "t(beta)"
    axes = list(reduce_axes(len(case.shape), case.channel_axis))
    return ("import keras\nops = keras.ops\n"
            f"t = lambda a: ops.cast(ops.convert_to_tensor(a), '{case.dtype}')\n"
            f"bn = lambda x, m, v: ops.batch_normalization(x, m, v, axis={case.channel_axis}, "
            f"offset={offset}, scale={scale}, epsilon={eps!r})\n"
            f"rm = ops.zeros(({case.channels},), '{case.dtype}')\n"
            f"rv = ops.ones(({case.channels},), '{case.dtype}')\n"
            "for step, x in enumerate(train, 1):\n"
            f"    mean, var = ops.moments(t(x), axes={axes})\n"
            f"    print(step, 'y_train', {conv}(bn(t(x), mean, var)))\n"
            f"    rm = rm * {decay!r} + mean * (1 - {decay!r})\n"
            f"    rv = rv * {decay!r} + var * (1 - {decay!r})\n"
            f"    print(step, 'running_mean', {conv}(rm), 'running_var', {conv}(rv))\n"
            f"print('y_eval', {conv}(bn(t(eval_x), rm, rv)))")


def _keras_like(module: str) -> Callable[[str, Case], str]:
    # Keras 3 converts from any backend (a torch tensor that requires grad has no __array__);
    # tf_keras tensors are NumPy-convertible.
    conv = "keras.ops.convert_to_numpy" if module == "keras" else "np.asarray"
    framework = "keras" if module == "keras" else "tf_keras"

    def gen(impl: str, case: Case) -> str:
        if case.op == "dropout":
            cls = impl.split("[", maxsplit=1)[0]
            return (f"import {module}\n"
                    f"y = {conv}({cls}({case.get('rate')!r}, dtype='{case.dtype}')"
                    "(x, training=True))\n" + DROP_PRINT)
        if impl.startswith("keras.ops.batch_normalization"):
            return _keras_ops(conv, case)
        parsed = _keras_qualifiers(impl)
        if parsed is None:
            return _suite_row(framework, impl, case,
                              "a variant this generator cannot write: the adapter's row")
        extra, tags = parsed
        kw = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"},
                     {"axis": case.channel_axis})
        flags = {"scale_off": ", scale=False", "center_off": ", center=False",
                 "affine_off": ", center=False, scale=False"}.get(str(case.get("flags")), "")
        flags += "".join(f", {k}={v}" for k, v in extra.items() if f", {k}=" not in flags)
        build = (f"import {module}\n"
                 f"layer = {module}.layers.BatchNormalization({kw}{flags}, "
                 f"dtype='{case.dtype}')\n"
                 "layer.build(train[0].shape)\n"
                 # ghost batches keep (1, ..., C)-shaped variables
                 "if layer.gamma is not None: "
                 "layer.gamma.assign(np.reshape(gamma, tuple(layer.gamma.shape)))\n"
                 "if layer.beta is not None: "
                 "layer.beta.assign(np.reshape(beta, tuple(layer.beta.shape)))\n")
        stats = (f"'moving_mean', {conv}(layer.moving_mean), "
                 f"'moving_variance', {conv}(layer.moving_variance)")
        if "fit" in tags:  # as the [fit] row: one fit step per batch, SGD at rate 0
            return (build +
                    f"model = {module}.Sequential([{module}.Input(shape=train.shape[2:], "
                    f"dtype='{case.dtype}'), layer])\n"
                    f"model.compile(optimizer={module}.optimizers.SGD(learning_rate=0.0), "
                    "loss='mse')\n"
                    "for step, x in enumerate(train, 1):\n"
                    "    model.fit(x, np.zeros_like(x), batch_size=len(x), epochs=1, "
                    "verbose=0, shuffle=False)\n"
                    f"    print(step, {stats})\n"
                    "print('y_eval', model.predict(eval_x, batch_size=len(eval_x), "
                    "verbose=0))")
        return (build +
                "for step, x in enumerate(train, 1):\n"
                "    layer(x, training=True)\n"
                f"    print(step, {stats})\n"
                f"print('y_eval', {conv}(layer(eval_x, training=False)))")

    return gen


def _mxnet(impl: str, case: Case) -> str:
    if case.op == "dropout":
        return ("import mxnet as mx\n"
                "with mx.autograd.record(train_mode=True):\n"
                f"    y = mx.gluon.nn.Dropout({case.get('rate')!r})(mx.nd.array(x))"
                ".asnumpy()\n" + DROP_PRINT)
    axis = {"axis": -1} if case.channel_axis != 1 else {}
    if impl.startswith("mxnet.nd."):
        kw = _kwargs(case, {"momentum": "momentum", "epsilon": "eps"}, axis)
        return ("import mxnet as mx\nnd = mx.nd\n"
                f"rm, rv = nd.zeros({case.channels}), nd.ones({case.channels})\n"
                "g, b = nd.array(gamma), nd.array(beta)\n"
                "for step, x in enumerate(train, 1):\n"
                "    with mx.autograd.record(train_mode=True):\n"
                f"        y = nd.BatchNorm(nd.array(x), g, b, rm, rv{', ' + kw if kw else ''})\n"
                "    print(step, 'moving_mean', rm.asnumpy(), 'moving_var', rv.asnumpy())\n"
                f"print('y_eval', nd.BatchNorm(nd.array(eval_x), g, b, rm, rv, "
                f"use_global_stats=True{', ' + kw if kw else ''}).asnumpy())")
    kw = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"},
                 {**axis, "in_channels": case.channels})
    return ("import mxnet as mx\n"
            f"net = mx.gluon.nn.BatchNorm({kw})\nnet.initialize()\n"
            "net.gamma.set_data(mx.nd.array(gamma)); net.beta.set_data(mx.nd.array(beta))\n"
            "for step, x in enumerate(train, 1):\n"
            "    data = mx.nd.array(x); data.attach_grad()\n"
            "    with mx.autograd.record(train_mode=True):\n"
            "        y = net(data)\n"
            "    y.backward()\n"
            "    print(step, 'running_mean', net.running_mean.data().asnumpy(), "
            "'running_var', net.running_var.data().asnumpy())\n"
            "print('y_eval', net(mx.nd.array(eval_x)).asnumpy())")


def _numpy(impl: str, case: Case) -> str:
    if case.op == "dropout":
        return ("from conformance.oracle import dropout as do\n"
                "kept = np.random.default_rng(0).random(x.shape) >= " f"{case.get('rate')!r}\n"
                f"print(do.training_output(x, kept, {case.get('rate')!r}, 'inverse_keep'))")
    return ("from conformance.oracle import batchnorm as bn\n"
            "conv = bn.Conventions(momentum_convention='weight_on_new')\n"
            f"out = bn.sequence(train, eval_x, {case.channel_axis}, gamma, beta, "
            f"{_num(case, 'momentum') if _num(case, 'momentum') is not None else 0.1}, "
            f"{_num(case, 'epsilon') if _num(case, 'epsilon') is not None else 1e-5}, conv)\n"
            "print('running_mean', out['running_mean'], 'running_var', out['running_var'])\n"
            "print('y_eval', out['y_eval'])")


def _keras_backend(backend: str) -> Callable[[str, Case], str]:
    """Keras 3 on another backend: the same calls, the backend chosen before the import."""
    gen = _keras_like("keras")

    def with_backend(impl: str, case: Case) -> str:
        return f'import os\nos.environ["KERAS_BACKEND"] = "{backend}"\n' + gen(impl, case)

    return with_backend


def _dims(case: Case) -> tuple[int, ...]:
    """A noise shape as the axes that share one draw (Flax's ``broadcast_dims``)."""
    noise = case.get("noise_shape")
    if not isinstance(noise, tuple):
        return ()
    return tuple(i for i, (n, s) in enumerate(zip(noise, case.shape, strict=True))
                 if n == 1 and s != 1)


def _flax(impl: str, case: Case) -> str:
    x64 = case.dtype == "float64"
    head = ("import jax\n" + ('jax.config.update("jax_enable_x64", True)  # float64 needs x64\n'
                              if x64 else "") +
            f"import jax.numpy as jnp\ndt = jnp.{case.dtype}\n")
    nnx = impl.startswith("flax.nnx.")
    if case.op == "dropout":
        args = f"{case.get('rate')!r}, broadcast_dims={_dims(case)}"
        if nnx:
            call = ("from flax import nnx\n"
                    f"layer = nnx.Dropout({args}, rngs=nnx.Rngs(dropout={case.seed}))\n"
                    "layer.train()\ny = np.asarray(layer(jnp.asarray(x, dt)))\n")
        else:
            call = ("import flax.linen as nn\n"
                    f"y = np.asarray(nn.Dropout({args}).apply({{}}, jnp.asarray(x, dt), "
                    f"deterministic=False, rngs={{'dropout': jax.random.key({case.seed})}}))\n")
        return head + call + DROP_PRINT
    kw = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"},
                 {"axis": case.channel_axis})
    kw += ", dtype=dt" + (", param_dtype=jnp.float64" if x64 else "")
    kw += {"scale_off": ", use_scale=False", "center_off": ", use_bias=False",
           "affine_off": ", use_bias=False, use_scale=False"}.get(str(case.get("flags")), "")
    if nnx:
        return (head + "from flax import nnx\n"
                f"bn = nnx.BatchNorm({case.channels}, {kw}, rngs=nnx.Rngs(0))\n"
                "if bn.scale is not None: bn.scale[...] = jnp.asarray(gamma, bn.scale[...].dtype)\n"
                "if bn.bias is not None: bn.bias[...] = jnp.asarray(beta, bn.bias[...].dtype)\n"
                "train_step = nnx.jit(lambda layer, x: nnx.value_and_grad("
                "lambda m, x: m(x).sum())(layer, x))\n"
                "bn.train()\nfor step, x in enumerate(train, 1):\n"
                "    train_step(bn, jnp.asarray(x, dt))\n"
                "    " + STATS_PRINT.format("np.asarray(bn.mean[...])", "np.asarray(bn.var[...])")
                + "bn.eval()\nprint('y_eval', np.asarray(bn(jnp.asarray(eval_x, dt))))")
    return (head + "import flax.linen as nn\n"
            f"bn = nn.BatchNorm({kw})\n"
            "variables = bn.init(jax.random.key(0), jnp.asarray(train[0], dt), "
            "use_running_average=False)\n"
            "params, stats = dict(variables.get('params', {})), variables['batch_stats']\n"
            "for name, v in (('scale', gamma), ('bias', beta)):\n"
            "    if name in params: params[name] = jnp.asarray(v, params[name].dtype)\n"
            "def loss(params, stats, x):\n"
            "    y, upd = bn.apply({'params': params, 'batch_stats': stats}, x, "
            "use_running_average=False, mutable=['batch_stats'])\n"
            "    return y.sum(), upd['batch_stats']\n"
            "train_step = jax.jit(jax.value_and_grad(loss, has_aux=True))\n"
            "for step, x in enumerate(train, 1):\n"
            "    (_, stats), _grads = train_step(params, stats, jnp.asarray(x, dt))\n"
            "    " + STATS_PRINT.format("np.asarray(stats['mean'])", "np.asarray(stats['var'])") +
            "print('y_eval', np.asarray(bn.apply({'params': params, 'batch_stats': stats}, "
            "jnp.asarray(eval_x, dt), use_running_average=True)))")


def _paddle(impl: str, case: Case) -> str:
    if case.op == "dropout":
        kw = f"p={case.get('rate')!r}"
        if "downscale_in_infer" in impl:
            kw += ", mode='downscale_in_infer'"
        noise = case.get("noise_shape")
        if isinstance(noise, tuple):
            kw += f", axis={[i for i, n in enumerate(noise) if n != 1]}"
        call = ("paddle.nn.functional.dropout(x_t, training=True, " + kw + ")"
                if "functional" in impl else f"paddle.nn.Dropout({kw})(x_t)")
        return (f"import paddle\npaddle.seed({case.seed})\nx_t = paddle.to_tensor(x)\n"
                f"y = {call}.numpy()\n" + DROP_PRINT)
    rank = len(case.shape)
    fmt = ({2: "NC", 3: "NLC", 4: "NHWC", 5: "NDHWC"} if case.channel_axis != 1 else
           {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"})[rank]
    kw = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"}, {"data_format": fmt})
    flags = str(case.get("flags"))
    kw += ", weight_attr=False" if flags in ("affine_off", "scale_off") else ""
    kw += ", bias_attr=False" if flags in ("affine_off", "center_off") else ""
    cls = impl.split("[", maxsplit=1)[0]
    return (f"import paddle\npaddle.set_default_dtype('{case.dtype}')\n"
            f"bn = {cls}({case.channels}, {kw})\n"
            "if bn.weight is not None: bn.weight.set_value(gamma)\n"
            "if bn.bias is not None: bn.bias.set_value(beta)\n"
            "bn.train()\nfor step, x in enumerate(train, 1):\n"
            "    x_t = paddle.to_tensor(x, stop_gradient=False)\n"
            "    bn(x_t).sum().backward()\n"
            "    " + STATS_PRINT.format("bn._mean.numpy()", "bn._variance.numpy()") +
            "bn.eval()\nprint('y_eval', bn(paddle.to_tensor(eval_x)).numpy())")


_ONNX_HEAD = ("import onnx, onnxruntime as ort\nfrom onnx import helper, TensorProto\n"
              "def session(node, inputs, outputs, opset):\n"
              "    graph = helper.make_graph([node], 'g', "
              "[helper.make_tensor_value_info(n, t, None) for n, t in inputs],\n"
              "        [helper.make_tensor_value_info(n, t, None) for n, t in outputs])\n"
              "    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', "
              "opset)])\n"
              "    model.ir_version = 8\n"
              "    return ort.InferenceSession(model.SerializeToString(), "
              "providers=['CPUExecutionProvider'])\n")
_ELEM = {"float16": "FLOAT16", "float32": "FLOAT", "float64": "DOUBLE", "bfloat16": "BFLOAT16"}


def _onnx_export(impl: str, case: Case) -> str:
    training = "training=TRAINING" in impl
    dynamo = "dynamo=False" not in impl
    mode = "torch.onnx.TrainingMode." + ("TRAINING" if training else "EVAL")
    if dynamo:
        export = ("def export(m, x):\n"
                  f"    return torch.onnx.export(m, (x,), dynamo=True, training={mode})"
                  ".model_proto.SerializeToString()\n")
    else:
        export = ("import io\ndef export(m, x):\n    buf = io.BytesIO()\n"
                  f"    torch.onnx.export(m, (x,), buf, dynamo=False, training={mode})\n"
                  "    return buf.getvalue()\n")
    head = ("import torch, onnxruntime as ort\nt = torch.from_numpy\n" + export +
            "def run(model, x):\n"
            "    sess = ort.InferenceSession(model, providers=['CPUExecutionProvider'])\n"
            "    return sess.run(None, {sess.get_inputs()[0].name: x})[0]\n")
    if case.op == "dropout":
        rate = case.get("rate")
        if training:
            return (head + f"m = torch.nn.Dropout({rate!r}).train()\n"
                    "y = run(export(m, t(x)), x)  # the train-mode graph in ONNX Runtime\n"
                    + DROP_PRINT)
        return (head + f"m = torch.nn.Dropout({rate!r})\n"
                "y = m.train()(t(x)).numpy()  # training output: PyTorch's\n" + DROP_PRINT +
                "\nprint('y_eval (ONNX Runtime)', run(export(m.eval(), t(x)), x))")
    kw = _kwargs(case, {"momentum": "momentum", "epsilon": "eps"})
    head += (f"m = torch.nn.BatchNorm2d({case.channels}{', ' + kw if kw else ''})"
             f".to(torch.{case.dtype})\n"
             "with torch.no_grad():\n    m.weight.copy_(t(gamma)); m.bias.copy_(t(beta))\n")
    if training:
        return (head + "model = export(m.train(), t(train[0]))\n"
                "for step, x in enumerate(train, 1):\n"
                "    print(step, 'y_train', run(model, x))\n"
                "print('y_eval', run(model, eval_x))")
    return (head + "m.train()\nfor step, x in enumerate(train, 1):\n"
            "    m(t(x).requires_grad_()).sum().backward()\n"
            "    " + STATS_PRINT.format("m.running_mean.numpy()", "m.running_var.numpy()") +
            "m.eval()\nwith torch.no_grad():\n    model = export(m, t(eval_x))\n"
            "print('y_eval (ONNX Runtime)', run(model, eval_x))")


def _onnxruntime(impl: str, case: Case) -> str:
    if impl.startswith("torch.onnx.export"):
        return _onnx_export(impl, case)
    m = re.search(r"opset=(\d+)", impl)
    opset = int(m.group(1)) if m else 15
    t = f"t = TensorProto.{_ELEM[case.dtype]}\n"
    if case.op == "dropout":
        return (_ONNX_HEAD + t +
                "node = helper.make_node('Dropout', ['x', 'ratio', 'training_mode'], "
                f"['y', 'mask'], seed={case.seed})\n"
                "sess = session(node, [('x', t), ('ratio', TensorProto.FLOAT), "
                "('training_mode', TensorProto.BOOL)],\n"
                f"               [('y', t), ('mask', TensorProto.BOOL)], {opset})\n"
                f"y, mask = sess.run(None, {{'x': x, 'ratio': np.array({case.get('rate')!r}, "
                "np.float32), 'training_mode': np.array(True)})\n" + DROP_PRINT)
    training = "training_mode=1" in impl or "outputs=5" in impl
    attrs = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"})
    attrs_eval = _kwargs(case, {"epsilon": "epsilon"}) if opset < 14 else attrs
    extra = ", 'sm', 'sv'" if opset == 9 else ""

    def node(train: bool, kw: str) -> str:
        outs = f"['y', 'rm', 'rv'{extra}]" if train else "['y']"
        mode = f"training_mode={int(train)}" if opset >= 14 else ""
        args = ", ".join(a for a in (kw, mode) if a)
        return (f"helper.make_node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], {outs}"
                f"{', ' + args if args else ''})")

    def sess(train: bool, kw: str) -> str:
        outs = f"['y', 'rm', 'rv'{extra}]" if train else "['y']"
        return (f"session({node(train, kw)},\n    [(n, t) for n in 'xsbmv'], "
                f"[(o, t) for o in {outs}], {opset})")

    cast = ("import ml_dtypes  # ONNX Runtime takes bfloat16 as ml_dtypes arrays\n"
            "train, eval_x, gamma, beta = (a.astype(ml_dtypes.bfloat16) "
            "for a in (train, eval_x, gamma, beta))\n") if case.dtype == "bfloat16" else ""
    return (_ONNX_HEAD + t + cast + f"train_sess = {sess(True, attrs)}\n"
            f"eval_sess = {'train_sess' if training else sess(False, attrs_eval)}\n"
            f"rm, rv = np.zeros({case.channels}, gamma.dtype), np.ones({case.channels}, "
            "gamma.dtype)\n"
            "for step, x in enumerate(train, 1):\n"
            "    y, rm, rv = train_sess.run(None, {'x': x, 's': gamma, 'b': beta, 'm': rm, "
            "'v': rv})[:3]\n"
            "    " + STATS_PRINT.format("rm", "rv") +
            "print('y_eval', eval_sess.run(None, {'x': eval_x, 's': gamma, 'b': beta, "
            "'m': rm, 'v': rv})[0])")


def _tensorflow(impl: str, case: Case) -> str:
    """tf.nn / tf.compat.v1 rows, as the tensorflow adapter calls them."""
    from conformance.adapters.tfops import _RECIPE_FLAGS, RECIPE_DEFAULTS
    from conformance.oracle.batchnorm import reduce_axes

    base = impl.split("[", maxsplit=1)[0]
    if case.op == "dropout":
        rate, noise = case.get("rate"), case.get("noise_shape")
        ns = f", noise_shape={list(noise)}" if isinstance(noise, tuple) else ""
        if base == "tf.compat.v1.layers.dropout":
            return ("import tensorflow as tf\n"
                    f"y = tf.compat.v1.layers.dropout(x, rate={rate!r}{ns}, "
                    "training=True).numpy()\n" + DROP_PRINT)
        # [keep_prob]: the row passes the case's rate as keep_prob, on purpose (the
        # v1 argument's meaning is the measured behaviour).
        arg = "keep_prob" if base == "tf.compat.v1.nn.dropout" else "rate"
        return (f"import tensorflow as tf\ny = {base}(x, {arg}={rate!r}{ns}).numpy()\n"
                + DROP_PRINT)
    m, e = case.get("momentum"), case.get("epsilon")
    if base == "tf.compat.v1.nn.fused_batch_norm":
        fmt = {(4, 1): "NCHW", (4, 3): "NHWC", (5, 1): "NCDHW", (5, 4): "NDHWC"}.get(
            (len(case.shape), case.channel_axis), "NHWC")
        kw = f", data_format='{fmt}'" + ("" if e == "default" else f", epsilon={float(e)!r}")  # type: ignore[arg-type]
        avg = m != "default"
        pdt = "float32" if case.dtype in ("float16", "bfloat16") else case.dtype
        return ("import tensorflow as tf\nfn = tf.compat.v1.nn.fused_batch_norm\n"
                f"g, b = tf.constant(gamma.astype('{pdt}')), tf.constant(beta.astype('{pdt}'))\n"
                f"rm, rv = tf.zeros({case.channels}, '{pdt}'), tf.ones({case.channels}, '{pdt}')\n"
                "for step, x in enumerate(train, 1):\n"
                + (f"    y, rm, rv = fn(x, g, b, mean=rm, variance=rv, is_training=True, "
                   f"exponential_avg_factor={float(m)!r}{kw})\n" if avg else  # type: ignore[arg-type]
                   f"    y, rm, rv = fn(x, g, b, is_training=True{kw})\n")
                + "    " + STATS_PRINT.format("rm.numpy()", "rv.numpy()")
                + f"y_eval, _, _ = fn(eval_x, g, b, mean=rm, variance=rv, is_training=False{kw})\n"
                "print('y_eval', y_eval.numpy())")
    if base == "tf.nn.batch_normalization":  # moments + the op; the EMA is the recipe's
        decay = RECIPE_DEFAULTS["decay"] if m == "default" else float(m)  # type: ignore[arg-type]
        eps = RECIPE_DEFAULTS["variance_epsilon"] if e == "default" else float(e)  # type: ignore[arg-type]
        off = _RECIPE_FLAGS.get(str(case.get("flags")), ())
        shape = [1] * len(case.shape)
        shape[case.channel_axis] = case.channels
        scale = "None" if "scale" in off else f"gamma.reshape({shape})"
        offset = "None" if "offset" in off else f"beta.reshape({shape})"
        axes = list(reduce_axes(len(case.shape), case.channel_axis))
        return ("import tensorflow as tf\n"
                f"rm, rv = tf.zeros({shape}, '{case.dtype}'), tf.ones({shape}, '{case.dtype}')\n"
                "for step, x in enumerate(train, 1):\n"
                f"    mean, var = tf.nn.moments(tf.constant(x), axes={axes}, keepdims=True)\n"
                f"    y = tf.nn.batch_normalization(x, mean, var, {offset}, {scale}, {eps!r})\n"
                f"    rm = {decay!r} * rm + (1 - {decay!r}) * mean\n"
                f"    rv = {decay!r} * rv + (1 - {decay!r}) * var\n"
                "    " + STATS_PRINT.format("rm.numpy().ravel()", "rv.numpy().ravel()")
                + f"print('y_eval', tf.nn.batch_normalization(eval_x, rm, rv, {offset}, "
                f"{scale}, {eps!r}).numpy())")
    return _suite_row("tensorflow", impl, case, "a tf.compat.v1 graph-mode row: the snippet "
                      "runs the adapter's graph code")


GENERATORS: dict[str, Callable[[str, Case], str]] = {
    "torch": _torch, "keras": _keras_like("keras"), "tf_keras": _keras_like("tf_keras"),
    "keras_jax": _keras_backend("jax"), "keras_torch": _keras_backend("torch"),
    "mxnet": _mxnet, "numpy": _numpy, "flax": _flax, "paddle": _paddle,
    "onnxruntime": _onnxruntime, "tensorflow": _tensorflow,
}


def _suite_row(framework: str, implementation: str, case: Case,
               why: str = "the suite's own recipe (its adapter's code)") -> str:
    """A recipe row is code the suite ships, not an API of the framework: the snippet runs
    that code, the row itself through its adapter (framework environment and suite
    installed), rather than a copy of it. Also the fallback for a row whose variant no
    generator writes (``why`` says which)."""
    keys = ("x",) if case.op == "dropout" else ("train", "eval", "gamma", "beta")
    names = {"eval": "eval_x"}
    inputs = ", ".join(f"{k!r}: {names.get(k, k)}" for k in keys)
    return (f"# {_name(implementation)}: {why}\n"
            "import importlib, json\n"
            "from conformance.cases.model import Case\n"
            "from conformance.environments import ADAPTERS\n"
            f"module, cls = ADAPTERS[{framework!r}].split(':')\n"
            "adapter = getattr(importlib.import_module(module), cls)()\n"
            "adapter.load()\n"
            f"case = Case.from_json(json.loads({json.dumps(case.to_json())!r}))\n"
            "row = next(i for i in adapter.implementations()\n"
            f"           if i.op == case.op and i.supports(case) is None "
            f"and i.qualify(case) == {implementation!r})\n"
            f"for name, value in row.run(case, {{{inputs}}}).items():\n"
            "    print(name, np.asarray(value))")


def snippet(framework: str, implementation: str, case: Case,
            inputs: Mapping[str, np.ndarray] | None) -> str:
    """The whole snippet, or a one-line note when the framework has no generator."""
    head = (f"# {_name(framework)}: {_name(implementation)} on case {case.id} "
            f"({case.dtype}, shape {case.shape})\nimport numpy as np\n")
    if implementation.startswith(RECIPE_PREFIX) and framework in ADAPTERS:
        return head + arrays_block(case, inputs) + "\n" + _suite_row(
            framework, implementation, case) + "\n"
    gen = GENERATORS.get(framework)
    if gen is None:
        return head + f"# no snippet generator for {_name(framework)} yet\n" + arrays_block(
            case, inputs)
    if case.op == "dropout" and case.get("noise_shape") is not None:
        head += f"# noise_shape={case.get('noise_shape')} (pass it where the API takes one)\n"
    return head + arrays_block(case, inputs) + "\n" + gen(implementation, case) + "\n"
