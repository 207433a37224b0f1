"""From runs to the two tables: per-case checks and per-behaviour discrepancies.

Pure function of the run directories and the case store: the reports and the
expectations gate are both built on :func:`analyze`'s output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Case, epsilon_of, momentum_of
from conformance.cases.store import load_inputs
from conformance.compare.agreement import doc_agreement
from conformance.compare.errors import compare
from conformance.compare.fit import Finding
from conformance.compare.infer_batchnorm import (
    FALLBACK_EPSILON,
    FALLBACK_MOMENTUM,
    Evidence,
    MomentCache,
    infer_batchnorm,
    infer_centering,
)
from conformance.compare.infer_dropout import infer_dropout, mask_counts, rate_of
from conformance.compare.load import Run
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do
from conformance.spec import BEHAVIOUR_BY_NAME, DROP_FRACTION_CONFIDENCE, Status, behaviours_for

_RUN_STATUS = {"error": Status.ERROR, "crash": Status.CRASH, "timeout": Status.TIMEOUT,
               "unsupported": Status.UNSUPPORTED}
_MODES = {"y_train": "training", "running_mean": "sequence", "running_var": "sequence",
          "y_eval": "inference"}


@dataclass
class RowReport:
    """One implementation row of one run: its findings and documentation."""

    framework: str
    version: str
    implementation: str
    op: str
    documented: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class Analysis:
    results: list[dict[str, Any]]
    discrepancies: list[dict[str, Any]]
    rows: list[RowReport]
    runs: list[Run]
    # The case store the analysis read; the HTML report draws its charts, snippets and
    # porting checks from it. Empty when an Analysis is built by hand (tests).
    cases: dict[str, Case] = field(default_factory=dict)
    cases_dir: Path | None = None
    # Input arrays the analysis already read, by case id (the report reuses them).
    inputs: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict, repr=False)


def documented_for(run: Run, implementation: str) -> dict[str, dict[str, Any]]:
    """Doc claims of a row: the qualified name's own claims win over the base name's."""
    base = implementation.split("[", maxsplit=1)[0]
    out: dict[str, dict[str, Any]] = {}
    for name in (base, implementation):
        for d in run.docs:
            if d["implementation"] == name and (d["behaviour"] not in out or name != base
                                                 or (d.get("verified") and
                                                 not out[d["behaviour"]].get("verified"))):
                out[d["behaviour"]] = d
    return out


def _conventions(doc: Mapping[str, str], actual: Mapping[str, str]) -> bn.Conventions:
    """Conventions the documentation states, the inferred ones where it is silent."""

    def pick(name: str, default: str) -> str:
        value = doc.get(name) or actual.get(name) or default
        return default if value in ("inconclusive", "not_measured") else value

    eff = pick("epsilon_effective", "as_given")
    return bn.Conventions(
        momentum_convention=pick("momentum_convention", "weight_on_old"),
        normalize_variance=pick("normalize_variance", "biased"),
        running_variance_update=pick("running_variance_update", "unbiased"),
        epsilon_placement=pick("epsilon_placement", "inside_sqrt"),
        epsilon_floor=float(eff.split(":")[1]) if eff.startswith("clamped_to:") else None,
        gamma_applied=pick("gamma_applied", "yes") == "yes",
        stats_update_trigger="never" if pick("stats_update_trigger", "forward") == "never"
        else "forward",
        inference_statistics=pick("inference_statistics", "running"),
    )


def _pick(doc: Mapping[str, str], actual: Mapping[str, str], behaviour: str,
          default: str) -> str:
    value = doc.get(behaviour) or actual.get(behaviour) or default
    return default if value in ("inconclusive", "not_measured") else value


def _num(text: str | None, fallback: float) -> float:
    try:
        return float(text) if text not in (None, "") else fallback
    except ValueError:
        return fallback


def _result_row(run: Run, r: dict[str, Any], case: Case | None, check: str, status: Status,
                mode: str, err: tuple[float, float] | None = None,
                detail: str = "") -> dict[str, Any]:
    return {
        "framework": run.framework, "framework_version": run.version,
        "implementation": r["implementation"], "op": r["op"], "mode": mode,
        "case_id": r["case_id"], "check": check, "status": status.value,
        "max_abs_err": "" if err is None else f"{err[0]:.3g}",
        "max_rel_err": "" if err is None else f"{err[1]:.3g}",
        "tolerance": case.tolerance.describe() if case else "", "detail": detail,
    }


def _bn_checks(run: Run, r: dict[str, Any], e: Evidence, moments: MomentCache,
               conv: bn.Conventions, m_default: float, e_default: float,
               source: str) -> list[dict[str, Any]]:
    case = e.case
    if case.id not in moments:
        moments[case.id] = [bn.batch_moments(x, case.channel_axis) for x in e.inputs["train"]]
    exp = bn.sequence(e.inputs["train"], e.inputs["eval"], case.channel_axis, e.inputs["gamma"],
                      e.inputs["beta"], momentum_of(case, m_default),
                      epsilon_of(case, e_default), conv, moments=moments[case.id])
    rows = []
    for key, mode in _MODES.items():
        if key not in e.outputs:
            continue
        c = compare(e.outputs[key], exp[key], case.tolerance)
        status = Status.PASS if c.passed else Status.MISMATCH
        detail = "" if c.passed else (
            f"{run.framework} {run.version} {r['implementation']} on {case.id} "
            f"({case.dtype}, shape {case.shape}): {key} differs from the oracle under {source}")
        rows.append(_result_row(run, r, case, key, status, mode, (c.max_abs, c.max_rel), detail))
    return rows


def _dropout_checks(run: Run, r: dict[str, Any], e: Evidence, scale: str, inference: str,
                    semantics: str) -> list[dict[str, Any]]:
    case, rate, x = e.case, rate_of(e), e.inputs["x"]
    kept = np.asarray(e.outputs["y_train"]) != 0
    rows = []
    for key, exp in (("y_train", do.training_output(x, kept, rate, scale, semantics)),
                     ("y_eval", do.inference_output(x, rate, inference, semantics))):
        if key not in e.outputs:  # e.g. tf.nn.dropout has no inference mode
            continue
        c = compare(e.outputs[key], exp, case.tolerance)
        rows.append(_result_row(run, r, case, key, Status.PASS if c.passed else Status.MISMATCH,
                                _MODES[key], (c.max_abs, c.max_rel)))
    p_drop = do.drop_probability(rate, semantics)
    if 0 < p_drop < 1:
        d, n = mask_counts(e)
        p = do.binomial_two_sided_p(d, n, p_drop)
        ok = p >= 1 - DROP_FRACTION_CONFIDENCE
        rows.append(_result_row(run, r, case, "drop_fraction",
                                Status.PASS if ok else Status.MISMATCH, "training",
                                (abs(d / n - p_drop), abs(d / n - p_drop) / p_drop),
                                f"dropped {d}/{n}, expected rate {p_drop:g}, p={p:.3g}"))
    noise = case.get("noise_shape")
    if isinstance(noise, tuple):
        ok = do.mask_is_broadcast(kept, noise)
        rows.append(_result_row(run, r, case, "mask_broadcast",
                                Status.PASS if ok else Status.MISMATCH, "training", None,
                                f"mask constant along the axes where noise_shape={noise} is 1"))
    return rows


def analyze(runs: list[Run], cases: Mapping[str, Case], cases_dir: Path) -> Analysis:
    loaded: dict[str, Mapping[str, np.ndarray]] = {}
    moments: MomentCache = {}  # by case id: every row of every run reads the same inputs

    def inputs(case_id: str) -> Mapping[str, np.ndarray]:
        if case_id not in loaded:
            loaded[case_id] = load_inputs(cases_dir, cases[case_id])
        return loaded[case_id]

    results: list[dict[str, Any]] = []
    rows: list[RowReport] = []
    for run in runs:
        if run.error:  # the framework never ran: one ERROR row says why
            results.append({
                "framework": run.framework, "framework_version": run.version,
                "implementation": "*", "op": "*", "mode": "*", "case_id": "*",
                "check": "import", "status": Status.ERROR.value, "max_abs_err": "",
                "max_rel_err": "", "tolerance": "", "detail": run.error})
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in run.results:
            groups[(r["implementation"], r["op"])].append(r)
        for (impl, op), recs in sorted(groups.items()):
            row = RowReport(run.framework, run.version, impl, op,
                            documented_for(run, impl))
            doc_values = {k: str(v["value"]) for k, v in row.documented.items()}
            evidence, failed = [], {}
            for r in recs:
                row.statuses[r["status"]] = row.statuses.get(r["status"], 0) + 1
                case = cases.get(r["case_id"])
                if case is None:
                    continue  # a result of a case no longer in the store: stale, ignored
                if r["status"] == "ok":
                    evidence.append(Evidence(case, run.outputs(r), inputs(case.id)))
                else:
                    msg = r.get("reason") or (f"{r['error']['type']}: {r['error']['message']}"
                                              if "error" in r else "")
                    failed[case.id] = (r["status"], msg)
                    results.append(_result_row(run, r, case, "run", _RUN_STATUS[r["status"]],
                                               "training", None, msg[:300]))
            if op == "batchnorm":
                row.findings = infer_batchnorm(evidence, failed, doc_values, cases, moments)
            elif op == "centering":
                row.findings = infer_centering(evidence, doc_values, moments)
            else:
                rates = {c.id: float(c.get("rate")) for c in cases.values()  # type: ignore[arg-type]
                         if c.op == "dropout"}
                row.findings = infer_dropout(evidence, failed, rates)
            actual = {f.behaviour: f.actual for f in row.findings}
            source = ", ".join(f"{k}={v}" for k, v in sorted(doc_values.items())
                               if k in BEHAVIOUR_BY_NAME) or "reference conventions"
            by_id = {r["case_id"]: r for r in recs}
            for e in evidence:
                r = by_id[e.case.id]
                if op in ("batchnorm", "centering"):
                    conv = _conventions(doc_values, actual)
                    if op == "centering":
                        conv = conv.with_(variance_normalized=actual.get("variance_normalized")
                                          != "no",
                                          offset_applied=actual.get("offset_applied") != "no",
                                          gamma_applied=e.case.get("flags") not in
                                          ("scale_off", "affine_off", "mean_only"))
                    results += _bn_checks(
                        run, r, e, moments, conv,
                        _num(doc_values.get("momentum_default") or actual.get("momentum_default"),
                             FALLBACK_MOMENTUM),
                        _num(doc_values.get("epsilon_default") or actual.get("epsilon_default"),
                             FALLBACK_EPSILON), source)
                else:
                    results += _dropout_checks(
                        run, r, e, _pick(doc_values, actual, "training_scale", "inverse_keep"),
                        _pick(doc_values, actual, "inference_output", "identity"),
                        _pick(doc_values, actual, "rate_semantics", "drop_probability"))
            rows.append(row)
    return Analysis(results, discrepancy_rows(rows), rows, runs, dict(cases), cases_dir,
                    loaded)


def discrepancy_rows(rows: list[RowReport]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        findings = {f.behaviour: f for f in row.findings}
        for b in behaviours_for(row.op):
            f = findings.get(b.name)
            doc = row.documented.get(b.name)
            if f is None or (f.actual == "not_measured" and doc is None):
                continue
            documented = str(doc["value"]) if doc else ""
            evidence = " ".join(f.evidence)
            if f.note:
                evidence = f"{evidence} ({f.note})" if evidence else f"({f.note})"
            out.append({
                "framework": row.framework, "framework_version": row.version,
                "implementation": row.implementation, "op": row.op, "behaviour": b.name,
                "documented": documented, "actual": f.actual,
                "agrees": doc_agreement(b.name, doc, f.actual,
                                        getattr(row, "demonstration", "")),
                "evidence": evidence,
            })
    return out
