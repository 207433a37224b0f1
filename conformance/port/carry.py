"""Porting a real checkpoint: every batch-norm layer it holds, run in both frameworks,
and the whole checkpoint renamed and relaid out for the target.

The same passes and grades as the suite's cases (``core``), on inputs drawn from each
layer's own running statistics (a checkpoint comes without data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Tolerance
from conformance.port import passes
from conformance.port.core import Port, Side, _judge, _key, _load, _pair_key
from conformance.port.plan import measure, translate

# A checkpoint has no case: exact means bit for bit (an atol of 0 would divide by zero).
EXACT = Tolerance(0.0, 1e-30)


def port_checkpoint(source: Side, target: Side, checkpoint: Path, runs: Path,
                    cases_dir: Path, work: Path, pythons: Mapping[str, str],
                    momentum: float | str = "default", epsilon: float | str = "default"
                    ) -> tuple[Port, dict[str, np.ndarray]]:
    """Port every batch-norm layer of a real checkpoint; the target-named variables (and
    the other tensors, relaid out by ``layout``) come back for writing.

    ``momentum``/``epsilon``: the source layers' own arguments (a checkpoint does not
    hold them; ``"default"`` means the source's defaults)."""
    measured = measure(runs, cases_dir, {(source.framework, source.implementation),
                                         (target.framework, target.implementation)})
    port = Port(source, target)
    ms = measured.get((source.framework, source.implementation))
    mt = measured.get((target.framework, target.implementation))
    if ms is None or mt is None:
        port.inference.outcome = port.training.outcome = (
            f"no measured conventions for {(source if ms is None else target).label} in "
            f"{runs} (run `conformance run` for its framework first)")
        return port, {}
    exports = passes.run_pass("checkpoint", [
        {"key": _key(source), "framework": source.framework, "case": "checkpoint",
         "implementation": source.implementation, "checkpoint": str(checkpoint.resolve()),
         "momentum": momentum, "epsilon": epsilon}], cases_dir, work, pythons)
    ok = [a for a in exports if a["status"] == "ok"]
    if not ok:
        why = exports[0].get("error", "no batch-norm layer") if exports else "no answer"
        port.inference.outcome = port.training.outcome = why
        return port, {}
    tr = translate(ms, mt, momentum, epsilon)
    items = [{"key": _pair_key(source, target), "framework": target.framework,
              "implementation": target.implementation, "case": a["case"],
              "shape": a["shape"], "momentum": tr.momentum, "epsilon": tr.epsilon,
              "gamma_one": tr.gamma_one, "source": a["outputs"], "notes": list(tr.notes)}
             for a in ok]
    imports = passes.run_pass("import", items, cases_dir, work, pythons)
    _judge(port, ok, imports, lambda _c, _k: EXACT, ms, mt,
           {(i["key"], i["case"]): i["notes"] for i in items}, exports)
    return port, _mapped(source, target, ok, imports)


def _mapped(source: Side, target: Side, exports: Sequence[Mapping[str, Any]],
            imports: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The checkpoint in the target's names: batch-norm variables by role, every other
    tensor through ``layout.convert``."""
    from conformance.port import layout

    out: dict[str, np.ndarray] = {}
    for ex, im in zip(exports, imports, strict=True):
        if im["status"] != "ok":
            continue
        prefix = str(ex["case"]).split(":", 1)[1]
        names = {v["role"]: v["name"] for v in im["variables"]}
        for key, value in _load(ex["outputs"]).items():
            if key.startswith("var/") and key[4:] in names:
                out[f"{prefix}/{names[key[4:]]}"] = value
    if exports:
        for name, value in _load(exports[0]["others"]).items():
            new, arr = layout.convert(name, value, source.framework, target.framework)
            out[new] = arr
    return out
