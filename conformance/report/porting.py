"""Porting batch norm between frameworks, and exporting a trained layer to NumPy.

The pairs' verdicts are the ones ``conformance port`` obtained by running both
frameworks (``reports/ports/``); a pair without one says it was not run, never a
verdict from the oracle alone. The NumPy export is checked against each row's
measured outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import epsilon_of
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


# --- verified ports (conformance port, reports/ports/) ------------------------------------


def load_ports(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest verified port of each ordered framework pair in ``directory`` (what
    ``conformance port`` and ``nox -s port`` write); unreadable files are skipped."""
    found: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    if not directory.is_dir():
        return {}
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            key = (str(record["source_framework"]), str(record["target_framework"]))
            stamp = path.stat().st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if key not in found or stamp >= found[key][0]:
            found[key] = (stamp, record)
    return {k: v for k, (_, v) in found.items()}


@dataclass(frozen=True)
class PairVerdict:
    """One ordered pair of real frameworks: its verified port, or why there is none."""

    source: str
    target: str
    port: Mapping[str, Any] | None
    why_not: str = ""


def port_frameworks(data: ReportData) -> list[str]:
    """The frameworks that ran a portable batch-norm row; never the oracle's row: NumPy
    is the reference, and a target only (see ``pair_verdicts``)."""
    return sorted({c.framework for c in representative(data)} - {"numpy"})


def pair_verdicts(frameworks: Sequence[str],
                  ports: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[PairVerdict]:
    """Every ordered pair of ``frameworks``, and each framework to ``numpy`` (a hand-written
    predictor under its measured conventions), with its verified port where one was run."""
    from conformance.port.cli import DEFAULTS
    from conformance.port.core import side

    ported = {side(n).framework for n in DEFAULTS} | {"numpy"}
    out = []
    for a in frameworks:
        for b in [*frameworks, "numpy"]:
            if a == b:
                continue
            record = ports.get((a, b))
            why = "" if record is not None else (
                "not run (nox -s port)" if {a, b} <= ported else
                "not run: no variable IO (Portable) in its adapter yet")
            out.append(PairVerdict(a, b, record, why))
    return out


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
