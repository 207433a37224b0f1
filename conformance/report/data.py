"""Indexes over an :class:`Analysis` that the HTML report looks things up in.

The report is a pure function of the analysis; this module only arranges it:
columns of the matrix, the findings and result rows of each, the stored
outputs of a (column, case) pair, and the majority value of each behaviour.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.cases.model import Case
from conformance.cases.store import load_inputs
from conformance.compare.agreement import doc_agreement
from conformance.compare.analyze import Analysis, RowReport
from conformance.compare.fit import Finding
from conformance.compare.load import Run
from conformance.oracle import batchnorm as bn
from conformance.spec import UNDECIDED, behaviours_for

# Values that say nothing about the framework: undecided, unmeasured, or the suite's own
# code (not_applicable). They never vote and never port.
UNMEASURED = UNDECIDED
REFERENCE_FRAMEWORK = "numpy"  # the oracle row: shown, but it does not vote for the majority


@dataclass(frozen=True)
class Column:
    """One implementation row of one run: a column of the matrix."""

    index: int
    row: RowReport

    @property
    def framework(self) -> str:
        return self.row.framework

    @property
    def version(self) -> str:
        return self.row.version

    @property
    def implementation(self) -> str:
        return self.row.implementation

    @property
    def op(self) -> str:
        return self.row.op

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version} {self.implementation}"

    def finding(self, behaviour: str) -> Finding | None:
        return next((f for f in self.row.findings if f.behaviour == behaviour), None)

    def agrees(self, behaviour: str) -> str:
        f = self.finding(behaviour)
        return doc_agreement(behaviour, self.row.documented.get(behaviour),
                             f.actual if f else "not_measured",
                             self.row.demonstration)


class ReportData:
    """The analysis, indexed once per render."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.columns = [Column(i, row) for i, row in enumerate(analysis.rows)]
        self._runs = {(r.framework, r.version): r for r in analysis.runs}
        self._records: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for run in analysis.runs:
            for rec in run.results:
                self._records[(run.framework, run.version, rec["implementation"],
                               rec["case_id"])] = rec
        self._checks: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in analysis.results:
            self._checks[(r["framework"], r["framework_version"], r["implementation"],
                          r["case_id"])].append(r)
        self._inputs: dict[str, Mapping[str, np.ndarray] | None] = {}
        self._outputs: dict[tuple[int, str], dict[str, np.ndarray] | None] = {}
        self._moments: dict[str, list[tuple[np.ndarray, np.ndarray, int]]] = {}
        self._by_column: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for fw, v, impl, cid in sorted(self._records):
            self._by_column[(fw, v, impl)].append(cid)
        self.majority = _majorities(self.columns)

    @property
    def cases(self) -> dict[str, Case]:
        return self.analysis.cases

    def run_of(self, col: Column) -> Run | None:
        return self._runs.get((col.framework, col.version))

    def group_label(self, framework: str, version: str) -> str:
        """The column group's heading: ``framework version``, except that a Keras run names
        its backend from its header (``keras 3.15.1 (jax)``): Keras 3 runs on several
        backends, each its own worker and framework (``keras``, ``keras_jax``, ...)."""
        run = self._runs.get((framework, version))
        backend = run.header.get("backend") if run is not None else None
        if backend and (framework == "keras" or framework.startswith("keras_")):
            return f"keras {version} ({backend})"
        return f"{framework} {version}"

    def record(self, col: Column, case_id: str) -> dict[str, Any] | None:
        return self._records.get((col.framework, col.version, col.implementation, case_id))

    def checks(self, col: Column, case_id: str) -> list[dict[str, Any]]:
        return self._checks.get((col.framework, col.version, col.implementation, case_id), [])

    def column_checks(self, col: Column) -> list[dict[str, Any]]:
        return [r for cid in self.case_ids_of(col) for r in self.checks(col, cid)]

    def outputs(self, col: Column, case_id: str) -> dict[str, np.ndarray] | None:
        """Stored outputs of an ok result, or None (no result, not ok, or files gone)."""
        key = (col.index, case_id)
        if key not in self._outputs:
            self._outputs[key] = self._load_outputs(col, case_id)
        return self._outputs[key]

    def _load_outputs(self, col: Column, case_id: str) -> dict[str, np.ndarray] | None:
        rec, run = self.record(col, case_id), self.run_of(col)
        if rec is None or run is None or rec.get("status") != "ok" or "outputs" not in rec:
            return None
        try:
            return run.outputs(rec)
        except (OSError, ValueError):
            return None

    def inputs(self, case_id: str) -> Mapping[str, np.ndarray] | None:
        if case_id not in self._inputs and case_id in self.analysis.inputs:
            self._inputs[case_id] = self.analysis.inputs[case_id]
        if case_id not in self._inputs:
            case, root = self.cases.get(case_id), self.analysis.cases_dir
            value: Mapping[str, np.ndarray] | None = None
            if case is not None and root is not None:
                try:
                    value = load_inputs(root, case)
                except (OSError, ValueError):
                    value = None
            self._inputs[case_id] = value
        return self._inputs[case_id]

    def train_moments(self, case_id: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """``batch_moments`` of each training step of a case with inputs, computed once."""
        if case_id not in self._moments:
            ins, case = self.inputs(case_id), self.cases[case_id]
            assert ins is not None
            self._moments[case_id] = [bn.batch_moments(x, case.channel_axis)
                                      for x in ins["train"]]
        return self._moments[case_id]

    def case_ids_of(self, col: Column) -> list[str]:
        return self._by_column.get((col.framework, col.version, col.implementation), [])


def _majorities(columns: list[Column]) -> dict[str, str]:
    """Majority value of each behaviour, one vote per framework (its own commonest value).

    One vote per framework, so a framework with four batch-norm classes does not
    outvote one with a single layer; the oracle row votes only when it is alone.
    No majority (a tie, or a value only one framework votes for) leaves the
    behaviour out. A value produced by the suite's own code (``not_applicable``), a
    demonstration row (a staged misuse) and a behaviour of another op never vote.
    """
    per_fw: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for col in columns:
        if col.row.demonstration:
            continue
        own = {b.name for b in behaviours_for(col.op)}
        for f in col.row.findings:
            if f.behaviour in own and f.actual not in UNMEASURED:
                per_fw[f.behaviour][col.framework][f.actual] += 1
    out = {}
    for behaviour, fws in per_fw.items():
        voters = {fw: c for fw, c in fws.items() if fw != REFERENCE_FRAMEWORK} or fws
        votes = Counter(c.most_common(1)[0][0] for c in voters.values())
        ranked = votes.most_common()
        if ranked[0][1] >= 2 and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            out[behaviour] = ranked[0][0]
    return out
