"""Porting batch norm between frameworks, and exporting a trained layer to NumPy.

Both are derived from the inferred conventions and then verified by the suite:
a translation is only shown as ``verified`` when the oracle, run under the
target's inferred conventions with the translated parameters, reproduces the
source's measured outputs within each case's tolerance. Nothing here is
asserted from documentation alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from conformance.cases.model import epsilon_of, momentum_of
from conformance.compare.checks import setting
from conformance.compare.errors import compare
from conformance.compare.provenance import is_recipe_row
from conformance.oracle import batchnorm as bn
from conformance.oracle import predictor
from conformance.report.data import REFERENCE_FRAMEWORK, UNMEASURED, Column, ReportData
from conformance.spec import NOT_APPLICABLE

NEEDED = ("running_mean", "running_var", "y_eval")
# Behaviours a translation or an export rests on: a row whose value for any of them is
# the suite's own code (not_applicable) has nothing of the framework's to port.
PORTED = ("momentum_convention", "momentum_default", "running_variance_update",
          "epsilon_default", "epsilon_placement", "epsilon_effective", "normalize_variance",
          "gamma_applied", "inference_statistics")


def portable(col: Column) -> bool:
    """Not a recipe, not a staged misuse, and no ported behaviour is the suite's own."""
    if is_recipe_row(col.implementation) or col.row.demonstration:
        return False
    return not any(f.behaviour in PORTED and f.actual == NOT_APPLICABLE
                   for f in col.row.findings)


@dataclass
class Item:
    """One translation rule and how the suite's check of it came out."""

    topic: str
    rule: str
    passed: int = 0
    total: int = 0
    worst: str = ""

    @property
    def status(self) -> str:
        if self.total == 0:
            return "unchecked"
        return "verified" if self.passed == self.total else "failed"


@dataclass
class Translation:
    source: Column
    target: Column
    items: list[Item] = field(default_factory=list)

    @property
    def status(self) -> str:
        states = {i.status for i in self.items}
        return "failed" if "failed" in states else "verified" if states == {"verified"} \
            else "unchecked"


def _actual(col: Column) -> dict[str, str]:
    return {f.behaviour: f.actual for f in col.row.findings if f.actual not in UNMEASURED}


def conventions(col: Column) -> bn.Conventions:
    """What the implementation does (inferred), not what it documents."""
    return setting(_actual(col)).conv


# Only for the porting table's arithmetic when neither the measurement nor the docs give a
# default; never reported as a framework's value (issue 11 reworks porting).
FALLBACK_MOMENTUM = 0.1
FALLBACK_EPSILON = 1e-5


def defaults(col: Column) -> tuple[float, float]:
    """Default momentum and epsilon: inferred, else documented, else the fallback."""
    out = []
    for name, fallback in (("momentum_default", FALLBACK_MOMENTUM),
                           ("epsilon_default", FALLBACK_EPSILON)):
        doc = col.row.documented.get(name, {}).get("value")
        for text in (_actual(col).get(name), doc):
            try:
                out.append(float(text))  # type: ignore[arg-type]
                break
            except (TypeError, ValueError):
                continue
        else:
            out.append(fallback)
    return out[0], out[1]


def _usable(data: ReportData, col: Column) -> list[str]:
    """Case ids whose result has running stats and y_eval (read from the record summary)."""
    out = []
    for cid in data.case_ids_of(col):
        case, rec = data.cases.get(cid), data.record(col, cid)
        if case is None or rec is None or rec.get("status") != "ok":
            continue
        if case.op != "batchnorm" or case.get("momentum") == "none":
            continue
        if int(np.prod(case.shape)) // case.channels <= 1:
            continue  # a batch of one normalizes to beta; nothing to port
        if "summary" in rec and not all(k in rec["summary"] for k in NEEDED):
            continue
        out.append(cid)
    return out


def _evidence(data: ReportData, col: Column) -> list[tuple[str, Mapping[str, np.ndarray],
                                                            Mapping[str, np.ndarray]]]:
    """(case id, inputs, outputs) of the column's ok cases with running stats and y_eval."""
    out: list[tuple[str, Mapping[str, np.ndarray], Mapping[str, np.ndarray]]] = []
    for cid in _usable(data, col):
        outs, ins = data.outputs(col, cid), data.inputs(cid)
        if outs is not None and ins is not None and all(k in outs for k in NEEDED):
            out.append((cid, ins, outs))
    return out


def representative(data: ReportData) -> list[Column]:
    """One batch-norm column per run: an unqualified row if one ran, else the plainest.

    Among rows with at least half the most usable cases, the shortest name wins
    (``[fused]`` before ``[virtual_batch_size=2]``): the row a user gets by default.
    Rows whose conventions are partly the suite's code, and demonstrations, never port.
    """
    by_run: dict[tuple[str, str], list[tuple[int, Column]]] = {}
    for col in data.columns:
        # The NumPy oracle is the yardstick, not a framework anyone ports to or from.
        if col.op == "batchnorm" and portable(col) and col.framework != REFERENCE_FRAMEWORK:
            n = len(_usable(data, col))
            if n:
                by_run.setdefault((col.framework, col.version), []).append((n, col))
    out = []
    for cands in by_run.values():
        most = max(n for n, _ in cands)
        fair = [c for n, c in cands if 2 * n >= most]
        out.append(min(fair, key=lambda c: ("[" in c.implementation, len(c.implementation),
                                            c.implementation)))
    return out


def _momentum_rule(src: str, dst: str, m_default: float) -> tuple[str, bool]:
    if src == dst:
        return f"same convention ({src}): pass momentum unchanged", True
    if "cumulative_average" in (src, dst):
        return f"{src} vs {dst}: no momentum reproduces a cumulative average", False
    return (f"source {src}, target {dst}: momentum_target = 1 - momentum_source "
            f"(source default {m_default:g} -> pass {1 - m_default:g})"), True


def translate(data: ReportData, source: Column, target: Column) -> Translation:
    """How to make ``target`` reproduce ``source``, checked case by case."""
    cs, ct = conventions(source), conventions(target)
    ms, es = defaults(source)
    _, et = defaults(target)
    mrule, m_ok = _momentum_rule(cs.momentum_convention, ct.momentum_convention, ms)
    var_rule = (f"both fold the {cs.running_variance_update} batch variance: nothing to do"
                if cs.running_variance_update == ct.running_variance_update else
                f"source folds {cs.running_variance_update}, target "
                f"{ct.running_variance_update}: no parameter converts it; rescale by n/(n-1) "
                "per batch only approximately")
    eps_parts = [f"pass epsilon explicitly (source default {es:g}, target default {et:g})"
                 if abs(es - et) > 1e-12 * max(es, 1e-30) else f"same default epsilon {es:g}"]
    if cs.epsilon_floor is not None:
        eps_parts.append(f"source raises epsilon to at least {cs.epsilon_floor:g}: pass "
                         f"max(epsilon, {cs.epsilon_floor:g})")
    if ct.epsilon_floor is not None:
        eps_parts.append(f"target raises epsilon to at least {ct.epsilon_floor:g}: smaller "
                         "source epsilons cannot be reproduced")
    if cs.epsilon_placement != ct.epsilon_placement:
        eps_parts.append(f"epsilon placement differs ({cs.epsilon_placement} vs "
                         f"{ct.epsilon_placement}): no parameter reproduces it")
    if cs.gamma_applied == ct.gamma_applied:
        gamma_rule = "both apply gamma: copy it" if cs.gamma_applied else "neither applies gamma"
    elif not cs.gamma_applied:
        gamma_rule = ("source ignores gamma (e.g. MXNet fix_gamma=True): load gamma = 1 "
                      "into the target")
    else:
        gamma_rule = ("target ignores gamma (e.g. MXNet fix_gamma=True): enable it "
                      "(fix_gamma=False); with the inferred conventions it cannot match")
    items = [Item("momentum", mrule), Item("running variance", var_rule),
             Item("epsilon and gamma", "; ".join(eps_parts) + "; " + gamma_rule)]
    for cid, ins, outs in _evidence(data, source):
        case = data.cases[cid]
        m_src = momentum_of(case, ms)
        assert m_src is not None  # momentum "none" cases are excluded
        if cs.momentum_convention == ct.momentum_convention:
            m_dst: float | None = m_src
        elif m_ok:
            m_dst = 1.0 - m_src
        else:
            m_dst = None
        eps_dst = bn.effective_epsilon(epsilon_of(case, es), cs)
        gamma = ins["gamma"] if cs.gamma_applied else np.ones_like(ins["gamma"])
        # Only the running statistics are compared: no need for the full sequence.
        rms, rvs = bn.running_statistics(ins["train"], case.channel_axis, m_dst, ct,
                                         moments=data.train_moments(cid))
        checks = [(items[0], rms, outs["running_mean"]), (items[1], rvs, outs["running_var"])]
        if ct.inference_statistics == "running":
            y = bn.normalize(ins["eval"], case.channel_axis, outs["running_mean"][-1],
                             outs["running_var"][-1], eps_dst, gamma, ins["beta"], ct)
        else:
            y = bn.training_output(ins["eval"], case.channel_axis, eps_dst, gamma,
                                   ins["beta"], ct)
        checks.append((items[2], y, outs["y_eval"]))
        for item, expected, measured in checks:
            if item is items[0] and m_dst is None:
                continue
            c = compare(measured, expected, case.tolerance)
            item.total += 1
            item.passed += c.passed
            if not c.passed and not item.worst:
                item.worst = f"{cid}: max abs err {c.max_abs:.3g} ({case.tolerance.describe()})"
    return Translation(source, target, items)


def translations(data: ReportData) -> list[Translation]:
    reps = representative(data)
    return [translate(data, s, t) for s in reps for t in reps
            if s.framework != t.framework or s.version != t.version]


# --- NumPy export -------------------------------------------------------------------------


def inference_code(col: Column) -> str:
    """The oracle's own inference function (``oracle.predictor``), with the conventions
    measured for this layer bound, as a self-contained module defining ``predict``."""
    _, eps = defaults(col)
    return predictor.source(conventions(col), eps, label=col.label)


@dataclass
class Export:
    column: Column
    code: str
    passed: int
    total: int
    worst: str = ""

    @property
    def status(self) -> str:
        return "unchecked" if self.total == 0 else (
            "verified" if self.passed == self.total else "failed")


def export(data: ReportData, col: Column) -> Export:
    """Generate the function and check it on the column's cases, fed its own final stats."""
    code = inference_code(col)
    fn = predictor.compile_source(code)
    _, eps_default = defaults(col)
    out = Export(col, code, 0, 0)
    for cid, ins, outs in _evidence(data, col):
        case = data.cases[cid]
        y = fn(ins["eval"], ins["gamma"], ins["beta"],
               outs["running_mean"][-1], outs["running_var"][-1],
               epsilon_of(case, eps_default), case.channel_axis)
        c = compare(outs["y_eval"], y, case.tolerance)
        out.total += 1
        out.passed += c.passed
        if not c.passed and not out.worst:
            out.worst = f"{cid}: max abs err {c.max_abs:.3g} ({case.tolerance.describe()})"
    return out
