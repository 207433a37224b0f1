"""Copy-pasteable snippets that reproduce one case with the framework alone.

One small generator per framework. Each snippet first rebuilds the case's
arrays: embedded literally when they are small, else by the seeded recipe that
drew them (:func:`recipe`, the same draws as ``cases.families.inputs_for``;
tests/test_report_html.py checks that the two stay equal), then runs the API
the way the adapter does and prints the outputs the suite compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from conformance.cases.model import Case

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
    dt = case.dtype
    if case.op == "dropout":
        return (f"rng = np.random.default_rng({case.seed})\n"
                f"x = (1.0 + rng.random({case.shape})).astype('{dt}')")
    offset = float(case.get("offset", 0.0) or 0.0)  # type: ignore[arg-type]
    spread = float(case.get("spread", 1.0) or 1.0)  # type: ignore[arg-type]
    shape = [1] * len(case.shape)
    shape[case.channel_axis] = case.channels
    special = {"zero_variance": "std.flat[0] = 0.0\nstd.flat[1] = 1e-5\n",
               "tiny_variance": "std.flat[1] = 1e-3\n"}.get(str(case.get("special")), "")
    return (f"rng = np.random.default_rng({case.seed})\n"
            f"mean = ({offset!r} + {spread!r} * rng.uniform(-1, 1, {case.channels}))"
            f".reshape({tuple(shape)})\n"
            f"std = ({spread!r} * rng.uniform(0.5, 1.5, {case.channels})).reshape({tuple(shape)})\n"
            f"{special}"
            f"def draw():\n    return (mean + std * rng.standard_normal({case.shape}))"
            f".astype('{dt}')\n"
            f"train = np.stack([draw() for _ in range({case.steps})])\n"
            f"eval_x = draw()\n"
            f"gamma = rng.uniform(0.5, 2.0, {case.channels}).astype('{dt}')\n"
            f"beta = rng.uniform(-1.0, 1.0, {case.channels}).astype('{dt}')")


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


def _keras_like(module: str) -> Callable[[str, Case], str]:
    # Keras 3 converts from any backend (a torch tensor that requires grad has no __array__);
    # tf_keras tensors are NumPy-convertible.
    conv = "keras.ops.convert_to_numpy" if module == "keras" else "np.asarray"

    def gen(impl: str, case: Case) -> str:
        if case.op == "dropout":
            cls = impl.split("[", maxsplit=1)[0]
            return (f"import {module}\n"
                    f"y = {conv}({cls}({case.get('rate')!r})(x, training=True))\n" + DROP_PRINT)
        kw = _kwargs(case, {"momentum": "momentum", "epsilon": "epsilon"},
                     {"axis": case.channel_axis})
        flags = {"scale_off": ", scale=False", "center_off": ", center=False",
                 "affine_off": ", center=False, scale=False"}.get(str(case.get("flags")), "")
        return (f"import {module}\n"
                f"layer = {module}.layers.BatchNormalization({kw}{flags}, dtype='{case.dtype}')\n"
                "layer.build(train[0].shape)\n"
                "if layer.gamma is not None: layer.gamma.assign(gamma)\n"
                "if layer.beta is not None: layer.beta.assign(beta)\n"
                "for step, x in enumerate(train, 1):\n"
                "    layer(x, training=True)\n"
                f"    print(step, 'moving_mean', {conv}(layer.moving_mean), "
                f"'moving_variance', {conv}(layer.moving_variance))\n"
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


GENERATORS: dict[str, Callable[[str, Case], str]] = {
    "torch": _torch, "keras": _keras_like("keras"), "tf_keras": _keras_like("tf_keras"),
    "keras_jax": _keras_backend("jax"), "keras_torch": _keras_backend("torch"),
    "mxnet": _mxnet, "numpy": _numpy,
}


def snippet(framework: str, implementation: str, case: Case,
            inputs: Mapping[str, np.ndarray] | None) -> str:
    """The whole snippet, or a one-line note when the framework has no generator."""
    head = (f"# {_name(framework)}: {_name(implementation)} on case {case.id} "
            f"({case.dtype}, shape {case.shape})\nimport numpy as np\n")
    gen = GENERATORS.get(framework)
    if gen is None:
        return head + f"# no snippet generator for {_name(framework)} yet\n" + arrays_block(
            case, inputs)
    if case.op == "dropout" and case.get("noise_shape") is not None:
        head += f"# noise_shape={case.get('noise_shape')} (pass it where the API takes one)\n"
    return head + arrays_block(case, inputs) + "\n" + gen(implementation, case) + "\n"
