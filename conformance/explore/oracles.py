"""The two oracles over a set of runs: own measured conventions, and equivalent forms.

Oracle (a) reuses the main run's checks (``compare.checks.bn_checks`` and
``dropout_checks``) with the implementation's *measured* conventions as both reference
and measurement, so the case's own tolerance and the named precision bands apply exactly
as in the main run; a mismatch those conventions cannot reproduce (cause
``unexplained``) is a finding. A framework error, crash or hang on a case is a
``status`` finding. Oracle (b) is :mod:`conformance.explore.pairs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Case, Tolerance
from conformance.cases.store import load_inputs
from conformance.cases.tolerances import tolerance_for
from conformance.compare import provenance
from conformance.compare.checks import UNEXPLAINED, bn_checks, dropout_checks
from conformance.compare.errors import compare
from conformance.compare.evidence import Evidence, MomentCache
from conformance.compare.load import Run
from conformance.explore.findings import Finding, message_key
from conformance.explore.pairs import Pair, pairs_for, status_class

ConventionsOf = Callable[[str, str, str], Mapping[str, str]]


def _finding(kind: str, run: Run, r: Mapping[str, Any], check: str, detail: str,
             other: str = "") -> Finding:
    return Finding(kind, run.framework, run.version, str(r["implementation"]),
                   str(r.get("base", r["implementation"])), str(r["op"]), check,
                   str(r["case_id"]), detail, other)


def _error_text(r: Mapping[str, Any]) -> str:
    err = r.get("error")
    if isinstance(err, dict):
        return f"{err.get('type')}: {err.get('message')}"
    return str(r.get("reason", ""))


def _named_error(r: Mapping[str, Any], case: Case, conv: Mapping[str, str]) -> bool:
    """An error a measured behaviour already names (as in the main run's report): a
    batch-norm input with one value per channel where ``batch_size_one_training`` is
    ``error``, or dropout at rate 1 where ``rate_one`` is ``error``."""
    if r["status"] != "error":
        return False
    if case.op == "batchnorm":
        return (conv.get("batch_size_one_training") == "error"
                and math.prod(case.shape) == case.channels)
    return conv.get("rate_one") == "error" and case.get("rate") == 1.0


def own_conventions(runs: list[Run], cases: Mapping[str, Case], cases_dir: Path,
                    conventions: ConventionsOf) -> list[Finding]:
    out: list[Finding] = []
    moments: MomentCache = {}
    inputs: dict[str, Mapping[str, np.ndarray]] = {}
    for run in runs:
        for r in run.results:
            case = cases.get(r["case_id"])
            if case is None or r["status"] == "unsupported":
                continue
            conv = dict(conventions(run.framework, r["implementation"], r["op"]))
            if r["status"] != "ok":
                if not _named_error(r, case, conv):
                    text = _error_text(r)
                    out.append(_finding("status", run, r,
                                        f"{r['status']}: {message_key(text)}", text[:600]))
                continue
            if not conv or r["op"] not in ("batchnorm", "dropout"):
                continue
            if case.id not in inputs:
                inputs[case.id] = load_inputs(cases_dir, case)
            e = Evidence(case, run.outputs(r), inputs[case.id], r.get("config"))
            if r["op"] == "batchnorm":
                rows = bn_checks(run, r, e, moments, conv, conv, "its measured conventions",
                                 recipe=frozenset(r.get("recipe") or ()))
            else:
                rows = dropout_checks(run, r, e, conv, conv,
                                      provenance.mask_shape_of(r, case))
            for row in rows:
                # On an informational case only a non-finite disagreement (NaN or inf
                # where the oracle is finite, or the reverse) decides anything; with a
                # momentum outside [0, 1] the running statistics grow geometrically and
                # overflow the dtype by design, so only the batch-statistics output counts.
                if case.informational and row["max_abs_err"] != "inf":
                    continue
                if row["check"] not in _keys(case, row["check"]):
                    continue
                if row["check"] == "y_eval" and _RECIPE_RUNNING & set(r.get("recipe") or ()):
                    continue  # inference reads running statistics the suite's recipe kept
                if row["status"] == "MISMATCH" and row["cause"] == UNEXPLAINED:
                    out.append(_finding(
                        "oracle", run, r, row["check"],
                        f"{row['check']}: max abs err {row['max_abs_err']}, max rel err "
                        f"{row['max_rel_err']} (tolerance {row['tolerance']})"))
    return out


# Behaviours that make a running statistic: a row whose recipe owns them (tf.nn and
# keras.ops batch normalization keep their moving averages in the suite's code) is
# judged on its batch output only.
_RECIPE_RUNNING = frozenset({"momentum_convention", "momentum_default",
                             "running_variance_update"})


def _out_of_range(case: Case) -> bool:
    m = case.get("momentum")
    return isinstance(m, float) and not 0.0 <= m <= 1.0


def _keys(case: Case, key: str, keys: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The outputs a check may judge on ``case``: all but the running statistics and
    what is computed from them when the momentum is outside [0, 1]."""
    every = keys or (key,)
    return tuple(k for k in every if not (_out_of_range(case) and k != "y_train"))


def _doubled(tol: Tolerance) -> Tolerance:
    return Tolerance(np.asarray(tol.rtol) * 2, np.asarray(tol.atol) * 2)


def _compare_pair(pair: Pair, case: Case, ra: Mapping[str, Any], oa: Mapping[str, np.ndarray],
                  rb: Mapping[str, Any], ob: Mapping[str, np.ndarray]) -> list[tuple[str, str]]:
    """(check, detail) of every way the two forms disagree on ``case``."""
    sa, sb = status_class(ra, oa), status_class(rb, ob)
    if "unsupported" in (sa, sb):
        return []
    if pair.op == "dropout":  # two random masks: all dropped in one and not the other is chance
        sa, sb = ({"zeros": "output"}.get(s, s) for s in (sa, sb))
    if case.informational:  # a bound that cannot decide: only raising or not, finite or not
        sa, sb = ({"zeros": "output"}.get(s, s) for s in (sa, sb))
    if sa != sb:
        why = {s: _error_text(r)[:300] for s, r in ((sa, ra), (sb, rb)) if s == "raises"}
        return [(f"status {sa} vs {sb}", f"{pair.base_a}: {sa}; {pair.base_b}: {sb}"
                 + "".join(f"; {k}: {v}" for k, v in why.items()))]
    if sa in ("raises", "crash", "timeout"):
        return []
    out = []
    for key in _keys(case, "", pair.keys):
        if key not in oa or key not in ob:
            continue
        c = compare(oa[key], ob[key], _doubled(tolerance_for(case, key)))
        if not c.passed and not (case.informational and np.isfinite(c.max_abs)):
            out.append((key, f"{key}: forms differ by max abs {c.max_abs:.3g}, max rel "
                             f"{c.max_rel:.3g} (twice the case's tolerance: "
                             f"{tolerance_for(case, key).describe()})"))
    return out


_DEFAULTS = (("momentum", "momentum_default"), ("epsilon", "epsilon_default"))


def same_defaults(pair: Pair, case: Case, conventions: ConventionsOf | None) -> bool:
    """Whether the two forms are equivalent on ``case``: a hyperparameter the case leaves
    at its default must have the same measured default in both (gluon's epsilon is 1e-5,
    ``mxnet.nd.BatchNorm``'s 1e-3: left at their defaults they compute different things)."""
    if conventions is None or case.op != "batchnorm":
        return True
    a = conventions(pair.framework_a, pair.base_a, case.op)
    b = conventions(pair.framework_b, pair.base_b, case.op)
    return all(case.get(param) != "default" or a.get(name) == b.get(name)
               for param, name in _DEFAULTS)


def equivalent_forms(runs: list[Run], cases: Mapping[str, Case],
                     conventions: ConventionsOf | None = None) -> list[Finding]:
    by_fw = {run.framework: run for run in runs}
    index: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in runs:
        for r in run.results:
            index[(run.framework, str(r.get("base", r["implementation"])), r["case_id"])] = r
    out: list[Finding] = []
    for pair in pairs_for(by_fw):
        ra_, rb_ = by_fw[pair.framework_a], by_fw[pair.framework_b]
        for case in cases.values():
            if case.op != pair.op or not same_defaults(pair, case, conventions):
                continue
            ra = index.get((pair.framework_a, pair.base_a, case.id))
            rb = index.get((pair.framework_b, pair.base_b, case.id))
            if ra is None or rb is None:
                continue
            oa = ra_.outputs(ra) if ra["status"] == "ok" else {}
            ob = rb_.outputs(rb) if rb["status"] == "ok" else {}
            for check, detail in _compare_pair(pair, case, ra, oa, rb, ob):
                out.append(_finding("pair", ra_, ra, check, f"{detail} ({pair.why})",
                                    f"{pair.framework_b}:{pair.base_b}"))
    return out


REFERENCE = "numpy"  # the oracle's own row: where it fails a case, the bound fails


def calibrated(found: list[Finding]) -> list[Finding]:
    """Oracle findings without the cases where the NumPy reference row (the oracle's own
    maths, run by the worker in the case's dtype) fails too: there the case's bound does
    not describe what a sound implementation can err, so a miss decides nothing."""
    bad = {f.case_id for f in found if f.framework == REFERENCE and f.kind == "oracle"}
    return [f for f in found if not (f.kind == "oracle" and f.case_id in bad)
            and f.framework != REFERENCE]


def evaluate(runs: list[Run], cases: Mapping[str, Case], cases_dir: Path,
             conventions: ConventionsOf) -> list[Finding]:
    """Every finding of every run on ``cases`` (calibrated by the reference row).

    The drawn inputs hold inf, NaN, denormals and zero variances on purpose, so NumPy's
    floating-point warnings say nothing here: the findings are the report."""
    with np.errstate(all="ignore"):
        return calibrated([*own_conventions(runs, cases, cases_dir, conventions),
                           *equivalent_forms(runs, cases, conventions)])
