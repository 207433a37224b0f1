"""A three-framework analysis built without any framework installed (for the report tests).

The numpy oracle row runs for real; a second, synthetic run ("mxnet", version
``0-synthetic``) is the same records with its batch-norm outputs recomputed
under Keras/MXNet-style conventions (momentum weight on the old value, default
momentum 0.9, default epsilon 1e-3), a doc claim and an error message that
carry HTML/JS payloads, so the tests see disagreement, a porting pair with
m <-> 1-m, and hostile strings. A third run ("torch", ``0-synthetic``) is the oracle's
records relabelled: the other side of the porting pair (the oracle never ports).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conformance.arrays import save_arrays
from conformance.cases import generate, materialize
from conformance.cases.store import load_inputs
from conformance.compare.analyze import Analysis, analyze
from conformance.compare.load import load_runs
from conformance.oracle import batchnorm as bn
from conformance.runner import RESULTS, run_worker

FAMILIES = ["bn_layout", "bn_momentum", "bn_epsilon", "bn_sequence", "dropout"]
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>&amp;\"'</"
SYNTHETIC = bn.Conventions(momentum_convention="weight_on_old")


def _synthetic_outputs(case_dir: Path, run_dir: Path, rec: dict[str, object],
                       cases: dict[str, object]) -> None:
    case = cases[str(rec["case_id"])]
    ins = load_inputs(case_dir, case)  # type: ignore[arg-type]
    m = case.get("momentum")  # type: ignore[attr-defined]
    momentum = 0.9 if m == "default" else None if m == "none" else float(m)
    e = case.get("epsilon")  # type: ignore[attr-defined]
    eps = 1e-3 if e == "default" else float(e)
    axis = case.channel_axis  # type: ignore[attr-defined]
    out = bn.sequence(ins["train"], ins["eval"], axis, ins["gamma"], ins["beta"], momentum,
                      eps, SYNTHETIC)
    first = bn.sequence(ins["train"][:1], ins["eval"], axis, ins["gamma"], ins["beta"],
                        momentum, eps, SYNTHETIC)
    out["mean_after_forward"] = out["mean_after_backward"] = first["running_mean"][0]
    dtype = case.dtype  # type: ignore[attr-defined]
    save_arrays(run_dir / str(rec["outputs"]), {k: v.astype(dtype) for k, v in out.items()})


def build(root: Path) -> Analysis:
    case_dir, runs = root / "cases", root / "runs"
    cases = {c.id: c for c in materialize(generate(FAMILIES), case_dir)}
    assert run_worker("numpy", case_dir, runs) == 0
    src = next(p for p in runs.iterdir() if p.name.startswith("numpy-"))
    dst = runs / "mxnet-0-synthetic"
    shutil.copytree(src, dst)
    lines = []
    for line in (dst / RESULTS).read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "header":
            rec.update(framework="mxnet", framework_version="0-synthetic")
        rec["framework"] = "mxnet"
        if rec["kind"] == "doc" and rec["behaviour"] == "momentum_convention":
            # Still verified: an unverified quote would make the cell "unverified", and the
            # report tests need one cell that contradicts its documentation.
            rec.update(quote=EVIL, source="javascript:alert(1)")
        if (rec["kind"] == "result" and rec["op"] == "batchnorm" and rec["status"] == "ok"):
            _synthetic_outputs(case_dir, dst, rec, cases)  # type: ignore[arg-type]
            rec.pop("summary", None)
        lines.append(json.dumps(rec))
    lines.append(json.dumps({"kind": "result", "framework": "mxnet", "op": "dropout",
                             "implementation": "conformance.oracle.dropout",
                             "case_id": next(c for c in cases if c.startswith("do_rate")),
                             "status": "error",
                             "error": {"type": "ValueError", "message": EVIL}}))
    (dst / RESULTS).write_text("\n".join(lines) + "\n")
    _renamed_copy(src, runs / "torch-0-synthetic", "torch")
    return analyze(load_runs(runs), cases, case_dir)


def _renamed_copy(src: Path, dst: Path, framework: str) -> None:
    """The oracle's run relabelled as a framework that follows the oracle's defaults: the
    porting pairs are between frameworks, and the oracle is never one of them."""
    shutil.copytree(src, dst)
    lines = []
    for line in (dst / RESULTS).read_text().splitlines():
        rec = json.loads(line)
        rec["framework"] = framework
        if rec["kind"] == "header":
            rec["framework_version"] = "0-synthetic"
        lines.append(json.dumps(rec))
    (dst / RESULTS).write_text("\n".join(lines) + "\n")
