"""Floor of the torch rows: the BatchNorm, F.batch_norm and Dropout calls the adapter
makes, on the same inputs and as many times, with no suite machinery around them.

Per batch-norm case (channels first): each matching ``BatchNormNd`` module runs
its training steps (forward + backward), one inference forward, a probe forward
+ backward and a frozen forward; ``F.batch_norm`` the steps, inference and probe.
Per dropout case without noise_shape: module and functional, train and eval.
Unsupported combinations are skipped as the adapter skips them.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

from conformance.bench.floor_io import cases, cases_dir_arg, channel_axis, emit  # noqa: E402

T1 = time.perf_counter()
RANKS = {torch.nn.BatchNorm1d: (2, 3), torch.nn.BatchNorm2d: (4,), torch.nn.BatchNorm3d: (5,)}


def _kwargs(p: dict[str, object]) -> dict[str, object] | None:
    kw: dict[str, object] = {}
    m, e, flags = p.get("momentum"), p.get("epsilon"), p.get("flags")
    if m == "none":
        kw["momentum"] = None
    elif m != "default":
        kw["momentum"] = float(m)  # type: ignore[arg-type]
    if e != "default":
        kw["eps"] = float(e)  # type: ignore[arg-type]
    if flags == "affine_off":
        kw["affine"] = False
    elif flags == "center_off":
        kw["bias"] = False
    elif flags in ("scale_off", "mean_only"):
        return None
    return kw


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad)


def _modules(p: dict[str, object], x: dict[str, np.ndarray]) -> int:
    kw, rank, calls = _kwargs(p), len(p["shape"]), 0  # type: ignore[arg-type]
    if kw is None:
        return 0
    dt = getattr(torch, str(p["dtype"]))
    for cls, ranks in RANKS.items():
        if rank not in ranks:
            continue

        def make(cls: type = cls) -> torch.nn.Module:
            m = cls(x["gamma"].shape[0], **kw).to(dt)
            with torch.no_grad():
                if m.weight is not None:
                    m.weight.copy_(_t(x["gamma"]))
                if m.bias is not None:
                    m.bias.copy_(_t(x["beta"]))
            return m

        m = make().train()
        for step in x["train"]:
            m(_t(step, True)).sum().backward()
        m.eval()(_t(x["eval"]))
        make().train()(_t(x["train"][0], True)).sum().backward()
        make().requires_grad_(False).train()(_t(x["train"][0]))
        calls += len(x["train"]) + 3
    return calls


def _functional(p: dict[str, object], x: dict[str, np.ndarray]) -> int:
    if p.get("momentum") == "none":
        return 0
    kw: dict[str, float] = {}
    if p.get("momentum") != "default":
        kw["momentum"] = float(p["momentum"])  # type: ignore[arg-type]
    if p.get("epsilon") != "default":
        kw["eps"] = float(p["epsilon"])  # type: ignore[arg-type]
    c, dt = x["gamma"].shape[0], getattr(torch, str(p["dtype"]))
    g, b = _t(x["gamma"]).clone().requires_grad_(True), _t(x["beta"]).clone().requires_grad_(True)
    rm, rv = torch.zeros(c, dtype=dt), torch.ones(c, dtype=dt)
    f = torch.nn.functional.batch_norm
    for step in x["train"]:
        f(_t(step, True), rm, rv, g, b, training=True, **kw).sum().backward()
    f(_t(x["eval"]), rm, rv, g, b, training=False, **kw)
    prm, prv = torch.zeros(c, dtype=dt), torch.ones(c, dtype=dt)
    f(_t(x["train"][0], True), prm, prv, g, b, training=True, **kw).sum().backward()
    return len(x["train"]) + 2


def main() -> None:
    torch.set_num_threads(1)  # as the adapter does
    calls = n = 0
    for record, x in cases(cases_dir_arg()):
        p, n = record["params"], n + 1
        torch.manual_seed(record["seed"])
        if record["op"] == "dropout":
            if p.get("noise_shape") is None:
                t = _t(x["x"])
                d = torch.nn.Dropout(p=p["rate"])
                d.train()(t)
                d.eval()(t)
                torch.nn.functional.dropout(t, p=p["rate"], training=True)
                torch.nn.functional.dropout(t, p=p["rate"], training=False)
                calls += 4
            continue
        if channel_axis(p) != 1:
            continue
        for run in (_modules, _functional) if record["op"] == "batchnorm" else (_modules,):
            try:
                calls += run(p, x)
            except ValueError:  # batch of one: the adapter records the same error
                calls += 1
    emit("torch", T0, T1, calls, n)


if __name__ == "__main__":
    main()
