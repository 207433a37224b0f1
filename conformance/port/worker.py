"""The port's passes inside one framework environment (``python -m conformance.port.worker``).

``export``: for every source implementation and scenario, build the source layer with the
case's arguments, load the case's gamma and beta (or a checkpoint's variables), train it on
the case's batches, and write what it holds (``var/<role>``), its inference output, and a
continuation (the same batches again) as the reference for the training port.
``import``: for every pair, build the target with the translated arguments, load the
source's exported variables by role, run inference and the same continuation.

One pass per environment for all its implementations, so a TensorFlow import is paid
once. A layer that cannot be built or run is an outcome in the JSON answer, never a crash
of the pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from conformance.adapters import load_adapter
from conformance.adapters.base import Portable, Variable
from conformance.cases.model import Case
from conformance.cases.store import load_inputs, load_manifest


def portables(framework: str) -> dict[str, Portable]:
    """The framework's portable batch-norm rows by name (the adapter is loaded once)."""
    adapter = load_adapter(framework)
    adapter.load()
    out = {}
    for impl in adapter.implementations():
        port = impl.portable()
        if port is not None and impl.op == "batchnorm":
            out[impl.name] = port
    return out


def continuation(port: Portable, layer: Any, train: np.ndarray,
                 evaluate: np.ndarray) -> dict[str, np.ndarray]:
    """Train on every batch of ``train``; outputs, statistics after each step, then
    inference on ``evaluate``."""
    ys, means, vars_ = [], [], []
    for x in train:
        ys.append(port.train(layer, x))
        held = {v.role: v.value for v in port.read(layer)}
        means.append(held["running_mean"])
        vars_.append(held["running_var"])
    return {"cont/y_train": np.stack(ys), "cont/running_mean": np.stack(means),
            "cont/running_var": np.stack(vars_), "cont/y_eval": port.infer(layer, evaluate)}


def _save(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]


def _variables(vs: list[Variable]) -> list[dict[str, Any]]:
    return [v.to_json() for v in vs]


def _inputs(cases_dir: Path, case: Case, cache: dict[str, dict[str, np.ndarray]]
            ) -> dict[str, np.ndarray]:
    if case.id not in cache:
        cache[case.id] = load_inputs(cases_dir, case)
    return cache[case.id]


def _trained(port: Portable, shape: tuple[int, ...], dtype: str, item: Mapping[str, Any],
             values: Mapping[str, np.ndarray], train: np.ndarray) -> tuple[Any, dict[str, Any]]:
    args = port.arguments(shape, 1, item["momentum"], item["epsilon"])
    layer = port.build(args, shape, dtype)
    port.write(layer, values)
    for x in train:
        port.train(layer, x)
    return layer, args


def _export(port: Portable, layer: Any, args: Mapping[str, Any], inputs: Mapping[str, Any],
            out: Path, extra: Mapping[str, np.ndarray]) -> dict[str, Any]:
    held = port.read(layer)
    arrays = {f"var/{v.role}": v.value for v in held}
    arrays["y_eval"] = port.infer(layer, inputs["eval"])
    arrays.update(continuation(port, layer, inputs["train"], inputs["eval"]))
    _save(out, {**arrays, **extra})
    return {"arguments": dict(args), "variables": _variables(held), "row": port.row(layer)}


def export_one(port: Portable, case: Case, inputs: Mapping[str, np.ndarray],
               item: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """The source trained on the case's batches (starting from the case's gamma and beta)."""
    layer, args = _trained(port, case.shape, case.dtype, item,
                           {"gamma": inputs["gamma"], "beta": inputs["beta"]}, inputs["train"])
    return _export(port, layer, args, inputs, out, {})


def _probe_shapes(channels: int) -> list[tuple[int, ...]]:
    return [(4, channels, 4, 4), (8, channels), (4, channels, 5), (2, channels, 3, 3, 3)]


def export_checkpoint(port: Portable, item: Mapping[str, Any], out: Path
                      ) -> list[dict[str, Any]]:
    """Every batch-norm layer of the checkpoint, loaded into the source and run on inputs
    drawn from its own running statistics (a checkpoint comes without data)."""
    from conformance.port import checkpoint

    flat = checkpoint.read(Path(item["checkpoint"]))
    probe = port.build(port.arguments(_probe_shapes(2)[0], 1, "default", "default"),
                       _probe_shapes(2)[0], "float32")
    names = [(v.role, v.name) for v in port.read(probe)]
    layers = checkpoint.batchnorm_layers(flat, names)
    rest = checkpoint.others(flat, layers)
    _save(out / "others.npz", rest)
    answers = []
    for prefix, values in layers.items():
        channels = int(values["running_mean"].shape[0])
        shape = next(s for s in _probe_shapes(channels) if _accepts(port, s))
        rng = np.random.default_rng(zlib.crc32(prefix.encode()))
        view = (1, channels) + (1,) * (len(shape) - 2)
        mean = values["running_mean"].astype(np.float64).reshape(view)
        std = np.sqrt(np.maximum(values["running_var"].astype(np.float64), 0)).reshape(view)
        draw = (mean + std * rng.standard_normal((4, *shape))).astype(np.float32)
        inputs = {"train": draw[:3], "eval": draw[3]}
        args = port.arguments(shape, 1, item["momentum"], item["epsilon"])
        layer = port.build(args, shape, "float32")
        port.write(layer, values)
        path = out / f"{prefix or 'layer'}.npz"
        facts = _export(port, layer, args, inputs, path,
                        {"in/train": inputs["train"], "in/eval": inputs["eval"]})
        answers.append({"key": item["key"], "case": f"checkpoint:{prefix}", "status": "ok",
                        "outputs": str(path), "shape": list(shape), "others": str(
                            out / "others.npz"), **facts})
    if not layers:
        raise ValueError(f"{item['checkpoint']}: no batch-norm layer with the variables "
                         f"{[n for _, n in names]}")
    return answers


def _accepts(port: Portable, shape: tuple[int, ...]) -> bool:
    try:
        port.arguments(shape, 1, "default", "default")
    except Exception:
        return False
    return True


def import_one(port: Portable, shape: tuple[int, ...], dtype: str,
               inputs: Mapping[str, np.ndarray], item: Mapping[str, Any], source: Path,
               out: Path) -> dict[str, Any]:
    """The target built with the translated arguments, loaded with the source's
    variables by role, run on the same inputs (and the same continuation)."""
    with np.load(source, allow_pickle=False) as z:
        values = {k[4:]: z[k] for k in z.files if k.startswith("var/")}
    if item.get("gamma_one") and "gamma" in values:
        values["gamma"] = np.ones_like(values["gamma"])
    momentum = item["momentum"]
    args = {**port.arguments(shape, 1, "default" if momentum is None else momentum,
                             item["epsilon"]), **item.get("extra", {})}
    layer = port.build(args, shape, dtype)
    port.write(layer, values)
    held = port.read(layer)
    arrays = {"y_eval": port.infer(layer, inputs["eval"])}
    if momentum is not None:  # no translated momentum: the training port does not run
        arrays.update(continuation(port, layer, inputs["train"], inputs["eval"]))
    _save(out, arrays)
    return {"arguments": args, "variables": _variables(held), "row": port.row(layer),
            "unmapped": sorted(set(values) - {v.role for v in held})}


def _one(plan: Mapping[str, Any], port: Portable, item: Mapping[str, Any], out: Path,
         cases: Mapping[str, Case], cache: dict[str, dict[str, np.ndarray]]
         ) -> list[dict[str, Any]]:
    answer = {"key": item["key"], "case": item["case"], "status": "ok"}
    if plan["mode"] == "checkpoint":
        return export_checkpoint(port, item, out / item["key"].replace(":", "+"))
    target = out / item["key"].replace(":", "+") / f"{item['case'].replace(':', '+')}.npz"
    if str(item["case"]).startswith("checkpoint:"):  # inputs travel with the source's export
        with np.load(item["source"], allow_pickle=False) as z:
            inputs = {"train": z["in/train"], "eval": z["in/eval"]}
        facts = import_one(port, tuple(item["shape"]), "float32", inputs, item,
                           Path(item["source"]), target)
        return [{**answer, "outputs": str(target), **facts}]
    case = cases[item["case"]]
    inputs = _inputs(Path(plan["cases"]), case, cache)
    if plan["mode"] == "export":
        facts = export_one(port, case, inputs, item, target)
    else:
        facts = import_one(port, case.shape, case.dtype, inputs, item, Path(item["source"]),
                           target)
    return [{**answer, "outputs": str(target), **facts}]


def run_plan(plan: Mapping[str, Any], out: Path) -> list[dict[str, Any]]:
    """Every item of the plan; each answer is ``ok`` with its facts or an outcome."""
    cases = {c.id: c for c in load_manifest(Path(plan["cases"]))}
    cache: dict[str, dict[str, np.ndarray]] = {}
    answers: list[dict[str, Any]] = []
    loaded: dict[str, dict[str, Portable] | str] = {}
    for item in plan["items"]:
        answer = {"key": item["key"], "case": item["case"]}
        framework = item["framework"]
        if framework not in loaded:
            try:
                loaded[framework] = portables(framework)
            except Exception as exc:  # the framework does not import: its items say so
                text = str(exc).splitlines()[0] if str(exc) else ""
                loaded[framework] = f"{framework} does not load: {type(exc).__name__}: {text}"
        ports = loaded[framework]
        if isinstance(ports, str):
            answers.append({**answer, "status": "error", "error": ports})
            continue
        port = ports.get(item["implementation"])
        if port is None:
            answers.append({**answer, "status": "error",
                            "error": f"{item['implementation']}: no portable row"})
            continue
        try:
            answers += _one(plan, port, item, out, cases, cache)
        except Exception as exc:  # a framework error is an outcome of this item
            tb = traceback.extract_tb(exc.__traceback__)
            answers.append({**answer, "status": "error",
                            "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                            "where": f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""})
    return answers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="conformance.port.worker")
    p.add_argument("plan", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    answers = run_plan(plan, args.out)
    (args.out / "answers.json").parent.mkdir(parents=True, exist_ok=True)
    (args.out / "answers.json").write_text(json.dumps(answers, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
