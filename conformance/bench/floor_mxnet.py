"""Floor of the mxnet rows: the MXNet 1.x calls the adapter makes, on the same inputs
and as many times, with no suite machinery around them.

Per batch-norm case: ``mx.nd.BatchNorm`` (default and ``fix_gamma=False``) and
``gluon.nn.BatchNorm`` run their training steps (forward under
``autograd.record()`` + ``backward``), one inference call and a probe step;
gluon adds a frozen (``grad_req='null'``) forward. Centering cases run gluon
with their flags. Dropout cases call ``nd.Dropout`` (default and
``mode='always'``) and ``gluon.nn.Dropout`` in train and eval mode.

Nothing is reused across cases: MXNet runs imperatively, a layer costs next to
nothing to build, and a fresh one per case is what a careful loop writes.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

T0 = time.perf_counter()
import os  # noqa: E402
import warnings  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")
os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
import numpy as np  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mxnet as mx

from conformance.bench.floor_io import cases, cases_dir_arg, emit  # noqa: E402

T1 = time.perf_counter()
FLAGS = {"scale_off": {"scale": False}, "center_off": {"center": False},
         "affine_off": {"center": False, "scale": False}}


def _arr(a: np.ndarray, dtype: str | None = None) -> Any:
    return mx.nd.array(np.ascontiguousarray(a), dtype=dtype or a.dtype.name)


def _me(p: dict[str, Any], eps: str) -> dict[str, Any]:
    kw: dict[str, Any] = {} if p.get("channel_axis", "first") == "first" else {"axis": -1}
    if p.get("momentum") != "default":
        kw["momentum"] = float(p["momentum"])
    if p.get("epsilon") != "default":
        kw[eps] = float(p["epsilon"])
    return kw


def _sequence(fresh: Any, forward: Any, stats: Any, x: dict[str, np.ndarray]) -> int:
    def step(state: Any, a: np.ndarray) -> None:
        data = _arr(a)
        data.attach_grad()
        with mx.autograd.record(train_mode=True):
            y = forward(state, data)
        stats(state)
        y.backward()
        y.asnumpy()

    state = fresh()
    for a in x["train"]:
        step(state, a)
        stats(state)
    forward(state, _arr(x["eval"])).asnumpy()
    probe = fresh()
    step(probe, x["train"][0])
    stats(probe)
    return len(x["train"]) + 2


def _nd(p: dict[str, Any], x: dict[str, np.ndarray], meta: dict[str, Any]) -> int:
    pdt = "float32" if p["dtype"] == "float16" else str(p["dtype"])
    c = x["gamma"].shape[0]

    def fresh() -> Any:
        g, b = _arr(x["gamma"], pdt), _arr(x["beta"], pdt)
        g.attach_grad()
        b.attach_grad()
        return g, b, mx.nd.zeros(c, dtype=pdt), mx.nd.ones(c, dtype=pdt)

    kw = {**_me(p, "eps"), **meta}
    return _sequence(fresh, lambda s, d: mx.nd.BatchNorm(d, *s, **kw),
                     lambda s: (s[2].asnumpy(), s[3].asnumpy()), x)


def _gluon(p: dict[str, Any], x: dict[str, np.ndarray], op: str) -> int:
    kw = {**_me(p, "epsilon"), **(FLAGS[str(p["flags"])] if op == "centering" else {})}

    def fresh() -> Any:
        net = mx.gluon.nn.BatchNorm(in_channels=x["gamma"].shape[0], **kw)
        net.initialize(ctx=mx.cpu())
        if p["dtype"] != "float32":
            net.cast(p["dtype"])
        net.gamma.set_data(_arr(x["gamma"], np.dtype(net.gamma.dtype).name))
        net.beta.set_data(_arr(x["beta"], np.dtype(net.beta.dtype).name))
        return net

    calls = _sequence(fresh, lambda s, d: s(d),
                      lambda s: (s.running_mean.data().asnumpy(),
                                 s.running_var.data().asnumpy()), x)
    frozen = fresh()
    frozen.collect_params().setattr("grad_req", "null")
    with mx.autograd.record(train_mode=True):
        frozen(_arr(x["train"][0])).asnumpy()
    return calls + 1


def _dropout(p: dict[str, Any], x: dict[str, np.ndarray]) -> int:
    rate, noise, shape = float(p["rate"]), p.get("noise_shape"), p["shape"]
    axes = None
    if noise is not None:
        pairs = list(zip(noise, shape, strict=False))
        if len(noise) != len(shape) or any(n not in (1, s) for n, s in pairs):
            return 0
        axes = tuple(i for i, (n, s) in enumerate(pairs) if n == 1 and s != 1)
    ax = {} if axes is None else {"axes": axes}
    fns = [lambda d: mx.nd.Dropout(d, p=rate, **ax),
           lambda d: mx.nd.Dropout(d, p=rate, mode="always", **ax),
           mx.gluon.nn.Dropout(rate, axes=axes if axes is not None else ())]
    data = _arr(x["x"])
    for fn in fns:
        try:
            with mx.autograd.record(train_mode=True):
                fn(data).asnumpy()
            fn(data).asnumpy()
        except mx.base.MXNetError:  # the adapter records the same error
            pass
    return 2 * len(fns)


def main() -> None:
    calls = n = 0
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        mx.random.seed(record["seed"])
        np.random.seed(record["seed"] % 2**32)
        if record["op"] == "dropout":
            calls += _dropout(p, x)
            continue
        if p.get("momentum") == "none":
            continue
        runs = []
        if record["op"] == "batchnorm":
            runs = [partial(_nd, p, x, {}), partial(_nd, p, x, {"fix_gamma": False}),
                    partial(_gluon, p, x, "batchnorm")]
        elif p.get("flags") in FLAGS:
            runs = [partial(_gluon, p, x, "centering")]
        for run in runs:
            try:
                calls += run()
            except mx.base.MXNetError:  # the adapter records the same error
                calls += 1
    emit("mxnet", T0, T1, calls, n)


if __name__ == "__main__":
    main()
