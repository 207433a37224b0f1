"""From runs to the two tables: per-case checks and per-behaviour discrepancies.

Pure function of the run directories and the case store: the reports and the
expectations gate are both built on :func:`analyze`'s output.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Case
from conformance.cases.store import load_inputs
from conformance.compare import provenance
from conformance.compare.agreement import doc_agreement
from conformance.compare.checks import Setting, bn_checks, dropout_checks, result_row, setting
from conformance.compare.evidence import Evidence, FitCache, MomentCache
from conformance.compare.fit import Finding
from conformance.compare.infer_batchnorm import infer_batchnorm, infer_centering
from conformance.compare.infer_dropout import infer_dropout
from conformance.compare.load import Run
from conformance.spec import BEHAVIOUR_BY_NAME, UNDECIDED, Status, behaviours_for

_RUN_STATUS = {"error": Status.ERROR, "crash": Status.CRASH, "timeout": Status.TIMEOUT,
               "unsupported": Status.UNSUPPORTED}


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
    demonstration: str = ""  # a deliberate-misuse row's scenario (compare/provenance.py)
    recipe: frozenset[str] = frozenset()  # behaviours the suite's own code produced


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


RowKey = tuple[int, str, str]  # (index of the run, implementation, op)


def analyze(runs: list[Run], cases: Mapping[str, Case], cases_dir: Path,
            jobs: int = 1) -> Analysis:
    """Analyze every implementation row of every run. Rows are independent, so ``jobs``
    > 1 analyzes them in that many forked processes; the tables are the same, row for row
    and bit for bit, as with one (``jobs`` only changes who computes a row)."""
    groups = [_groups(run) for run in runs]
    keys: list[RowKey] = [(i, impl, op) for i, g in enumerate(groups) for impl, op in sorted(g)]
    state = _State(runs, groups, cases, cases_dir)
    done = _rows_in_processes(state, keys, jobs) if jobs > 1 and len(keys) > 1 else None
    if done is None:
        done = {key: state.row(key) for key in keys}
    results: list[dict[str, Any]] = []
    rows: list[RowReport] = []
    for i, run in enumerate(runs):
        if run.error:  # the framework never ran: one ERROR row says why
            results.append({
                "framework": run.framework, "framework_version": run.version,
                "implementation": "*", "op": "*", "mode": "*", "case_id": "*",
                "check": "import", "status": Status.ERROR.value, "max_abs_err": "",
                "max_rel_err": "", "tolerance": "", "detail": run.error, "cause": ""})
        for key in (k for k in keys if k[0] == i):
            row, row_results = done[key]
            rows.append(row)
            results += row_results
    return Analysis(results, discrepancy_rows(rows), rows, runs, dict(cases), cases_dir,
                    state.loaded)


def _groups(run: Run) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in run.results:
        groups[(r["implementation"], r["op"])].append(r)
    return groups


@dataclass
class _State:
    """What analyzing a row reads, and the caches rows share (within one process)."""

    runs: list[Run]
    groups: list[dict[tuple[str, str], list[dict[str, Any]]]]
    cases: Mapping[str, Case]
    cases_dir: Path
    loaded: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    moments: MomentCache = field(default_factory=dict)  # by case id: every row reads the same
    fits: FitCache = field(default_factory=FitCache)  # by content: rows with the same outputs

    def inputs(self, case_id: str) -> Mapping[str, np.ndarray]:
        if case_id not in self.loaded:
            self.loaded[case_id] = load_inputs(self.cases_dir, self.cases[case_id])
        return self.loaded[case_id]

    def cost(self, key: RowKey) -> int:
        """A rough relative cost of a row (batch-norm rows fit a convention space)."""
        i, _, op = key
        ok = sum(1 for r in self.groups[i][key[1:]] if r["status"] == "ok")
        return ok * (8 if op == "batchnorm" else 1)

    def row(self, key: RowKey) -> tuple[RowReport, list[dict[str, Any]]]:
        """One row's findings, and its result rows (failed runs first, then the checks)."""
        i, impl, op = key
        run, recs, cases = self.runs[i], self.groups[i][(impl, op)], self.cases
        results: list[dict[str, Any]] = []
        row = RowReport(run.framework, run.version, impl, op, documented_for(run, impl))
        doc_values = {k: str(v["value"]) for k, v in row.documented.items()}
        evidence, failed = [], {}
        for r in recs:
            row.statuses[r["status"]] = row.statuses.get(r["status"], 0) + 1
            case = cases.get(r["case_id"])
            if case is None:
                continue  # a result of a case no longer in the store: stale, ignored
            if r["status"] == "ok":
                evidence.append(Evidence(case, run.outputs(r), self.inputs(case.id),
                                         r.get("config")))
            else:
                msg = r.get("reason") or (f"{r['error']['type']}: {r['error']['message']}"
                                          if "error" in r else "")
                failed[case.id] = (r["status"], msg)
                results.append(result_row(run, r, case, "run", _RUN_STATUS[r["status"]],
                                          "training", None, msg[:300]))
        if op == "batchnorm":
            row.findings = infer_batchnorm(evidence, failed, cases, self.moments, self.fits)
        elif op == "centering":
            row.findings = infer_centering(evidence, self.moments, self.fits)
        else:
            rates = {c.id: float(c.get("rate")) for c in cases.values()  # type: ignore[arg-type]
                     if c.op == "dropout"}
            row.findings = infer_dropout(evidence, failed, rates,
                                         provenance.declared_mask_shapes(recs, cases))
        results += _checks(run, row, recs, evidence, doc_values, self.moments, cases)
        # After the checks, which test what the row's code does, whoever wrote it.
        row.recipe = provenance.recipe_of(recs)
        row.findings = provenance.without_recipe(row.findings, row.recipe, run.framework, impl)
        row.demonstration = provenance.demonstration_of(recs)
        return row, results


_FORKED: list[_State] = []  # the state forked processes analyze rows of (inherited)


def _forked_row(key: RowKey) -> tuple[RowKey, tuple[RowReport, list[dict[str, Any]]]]:
    return key, _FORKED[-1].row(key)


def _rows_in_processes(state: _State, keys: list[RowKey], jobs: int
                       ) -> dict[RowKey, tuple[RowReport, list[dict[str, Any]]]] | None:
    """Every row, analyzed by ``jobs`` forked processes (dearest rows first, so that no
    process is left with a long row at the end); None where fork is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    order = sorted(keys, key=state.cost, reverse=True)
    _FORKED.append(state)
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(keys))) as pool:
            return dict(pool.imap_unordered(_forked_row, order, chunksize=1))
    finally:
        _FORKED.pop()


def _checks(run: Run, row: RowReport, recs: list[dict[str, Any]], evidence: list[Evidence],
            doc_values: dict[str, str], moments: MomentCache,
            cases: Mapping[str, Case]) -> list[dict[str, Any]]:
    """Every output checked under the reference conventions (documented, else measured);
    each mismatch re-checked under the measured ones to name its cause."""
    actual = {f.behaviour: f.actual for f in row.findings}
    documented = {k: v for k, v in doc_values.items() if k in BEHAVIOUR_BY_NAME}
    reference = {**actual, **documented}
    # Numeric values at full precision: the rounded text would hide a float32 hyperparameter.
    measured = {**documented, **{k: v if f.exact is None else repr(f.exact)
                                 for f in row.findings for k, v in [(f.behaviour, f.actual)]
                                 if v not in UNDECIDED}}
    inferred = sorted(k for k in actual if k not in documented and actual[k] not in UNDECIDED)
    source = (f"documented {', '.join(f'{k}={v}' for k, v in sorted(documented.items()))}"
              if documented else "no documented conventions")
    if inferred:
        source += f"; measured {', '.join(f'{k}={actual[k]}' for k in inferred)}"
    by_id = {r["case_id"]: r for r in recs}
    recipe = provenance.recipe_of(recs)
    rows: list[dict[str, Any]] = []
    for e in evidence:
        r = by_id[e.case.id]
        if row.op == "dropout":
            rows += dropout_checks(run, r, e, reference, measured,
                                   provenance.mask_shape_of(r, e.case))
            continue
        make = setting if row.op != "centering" else (
            lambda v, case=e.case: _centering(setting(v), actual, case))
        rows += bn_checks(run, r, e, moments, reference, measured, source, make, recipe)
    return rows


def _centering(s: Setting, actual: dict[str, str], case: Case) -> Setting:
    conv = s.conv.with_(variance_normalized=actual.get("variance_normalized") != "no",
                        offset_applied=actual.get("offset_applied") != "no",
                        gamma_applied=case.get("flags") not in ("scale_off", "affine_off",
                                                                "mean_only"))
    return Setting(conv, s.momentum, s.epsilon, s.values)


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
                "agrees": doc_agreement(b.name, doc, f.actual, row.demonstration),
                "evidence": evidence,
            })
    return out
