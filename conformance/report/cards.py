"""Convention cards: what each implementation measurably does, one JSON file per framework version.

A converter (PyTorch -> Keras, Keras -> a hand-written predictor) needs the conventions of
both sides as data, not prose: ``reports/cards/<framework>-<version>.json``. A card is a
pure function of the analysis: every value is the measured one, with its status kept as
measured (``inconclusive`` with the values the cases could not tell apart,
``not_applicable`` where the suite's own code would answer, ``not_measured``), never filled
in from the documentation, which sits beside it with its source and ``agrees``. Each value
names the cases that decided it and the report cell that shows the fit. The variables a
layer holds (role, framework name, shape, dtype) come from the result records when the
adapter recorded them, read off the real layer; otherwise ``"not recorded"``.
The format is described in README.md ("Convention cards").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.cases.model import Case
from conformance.compare.agreement import doc_agreement
from conformance.compare.analyze import Analysis, RowReport
from conformance.compare.checks import Setting, setting
from conformance.compare.fit import Finding
from conformance.compare.load import Run
from conformance.compare.provenance import is_recipe_row
from conformance.report.detail import detail_anchor
from conformance.report.files import write_text_atomic
from conformance.spec import INCONCLUSIVE, NOT_MEASURED, UNDECIDED, behaviours_for

CARD_SCHEMA = 1
CARDS_DIR = "cards"
REPORT_PAGE = "../index.html"  # the HTML report, relative to a card file
NOT_RECORDED = "not recorded"
MAX_EVIDENCE = 6
_FITS = re.compile(r"^(\d+)/(\d+) cases fit")


def card_name(framework: str, version: str) -> str:
    """``torch-2.13.0.json``; a device run's ``2.13.0 (cuda)`` becomes ``2.13.0-cuda``."""
    safe = re.sub(r"[^\w.+-]+", "-", version).strip("-") or "unknown"
    return f"{framework}-{safe}.json"


def status_of(actual: str) -> str:
    """``earned`` for a value the evidence decided; otherwise the undecided value itself."""
    return actual if actual in UNDECIDED else "earned"


def tied_values(finding: Finding) -> list[str]:
    """The values an inconclusive fit could not separate: those whose best candidate fits
    the most cases (read from the fit's residual table, ``"N/M cases fit, ..."``)."""
    fits = {v: int(m.group(1)) for v, s in finding.residuals.items()
            if (m := _FITS.match(s)) is not None}
    if not fits or max(fits.values()) == 0:
        return []
    top = max(fits.values())
    return sorted(v for v, n in fits.items() if n == top)


def _behaviour(row: RowReport, index: int, name: str) -> dict[str, Any]:
    finding = next((f for f in row.findings if f.behaviour == name), None)
    doc = row.documented.get(name)
    actual = finding.actual if finding else NOT_MEASURED
    out: dict[str, Any] = {"value": actual, "status": status_of(actual)}
    if finding is not None and finding.exact is not None and actual not in UNDECIDED:
        out["exact"] = finding.exact
    tied = tied_values(finding) if actual == INCONCLUSIVE and finding is not None else []
    if tied:  # a fit that named its rivals; other inconclusive findings say why in ``note``
        out["tied"] = tied
    out["evidence"] = list(finding.evidence[:MAX_EVIDENCE]) if finding else []
    out["note"] = finding.note if finding else "no finding: no case of this row measured it"
    out["documented"] = None if doc is None else {
        k: doc.get(k) for k in ("value", "source", "quote", "verified")}
    out["agrees"] = doc_agreement(name, doc, actual, row.demonstration)
    # The matrix renders a detail view for this cell exactly when this holds (matrix._cell).
    shown = finding is not None and not (actual == NOT_MEASURED and doc is None)
    out["report"] = f"{REPORT_PAGE}#{detail_anchor(index, name)}" if shown else None
    return out


def _symbolic(shape: Sequence[int], channels: int) -> list[int | str]:
    return ["C" if d == channels else int(d) for d in shape]


def variables_of(records: Iterable[Mapping[str, Any]],
                 cases: Mapping[str, Case]) -> list[dict[str, Any]] | str:
    """The layer's variables from the ok records that carry ``variables`` (the adapter
    read them off the real layer: ``role``, ``name``, ``shape``, ``dtype``). A dimension
    equal to the case's channel count is written ``"C"``; dtypes seen across cases are
    listed. ``"not recorded"`` when no record carries them."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("status") != "ok" or not isinstance(rec.get("variables"), list):
            continue
        case = cases.get(str(rec.get("case_id")))
        channels = case.channels if case is not None else -1
        for var in rec["variables"]:
            key = (str(var.get("role", "")), str(var.get("name", "")))
            entry = merged.setdefault(key, {"role": key[0], "name": key[1], "shape": None,
                                            "dtypes": [], "cases": []})
            shape = _symbolic(var.get("shape", []), channels)
            if entry["shape"] is None:
                entry["shape"] = shape
            elif entry["shape"] != shape:
                entry["shape"] = "varies"
            if str(var.get("dtype")) not in entry["dtypes"]:
                entry["dtypes"].append(str(var.get("dtype")))
            if len(entry["cases"]) < MAX_EVIDENCE:
                entry["cases"].append(str(rec.get("case_id")))
    if not merged:
        return NOT_RECORDED
    return list(merged.values())


def channel_axes(records: Iterable[Mapping[str, Any]], cases: Mapping[str, Case]) -> list[int]:
    """Channel axes of the row's ok cases (1: channels first, -1: channels last), from the
    record's own ``channel_axis`` when the adapter wrote one, else from the case."""
    axes: set[int] = set()
    for rec in records:
        case = cases.get(str(rec.get("case_id")))
        if rec.get("status") != "ok" or case is None:
            continue
        axis = rec.get("channel_axis", case.channel_axis)
        rank = len(case.shape)
        axes.add(-1 if int(axis) % rank == rank - 1 and rank > 2 else int(axis) % rank)
    return sorted(axes)


def _kind(row: RowReport) -> str:
    if row.demonstration:
        return "demonstration"
    return "recipe" if is_recipe_row(row.implementation) else "framework"


def entry(row: RowReport, index: int, records: Sequence[Mapping[str, Any]],
          cases: Mapping[str, Case]) -> dict[str, Any]:
    """One implementation row's card entry."""
    out: dict[str, Any] = {"implementation": row.implementation, "op": row.op,
                           "kind": _kind(row)}
    if row.demonstration:
        out["demonstration"] = row.demonstration
    if row.recipe:
        out["recipe_behaviours"] = sorted(row.recipe)
    out["results"] = dict(sorted(row.statuses.items()))
    axes = channel_axes(records, cases) if row.op != "dropout" else []
    if axes:
        out["channel_axis"] = axes
    if row.op == "batchnorm":
        out["variables"] = variables_of(records, cases)
    out["behaviours"] = {b.name: _behaviour(row, index, b.name) for b in behaviours_for(row.op)}
    return out


_HEADER_FACTS = ("build", "backend", "python", "platform", "device", "case_set")


def card(run: Run, rows: Sequence[tuple[int, RowReport]],
         cases: Mapping[str, Case]) -> dict[str, Any]:
    """The card of one run (a framework at one version)."""
    by_row: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for rec in run.results:
        by_row.setdefault((rec["implementation"], rec["op"]), []).append(rec)
    return {
        "card_schema": CARD_SCHEMA,
        "framework": run.framework,
        "framework_version": run.version,
        "run": {"directory": run.path.name,
                **{k: run.header[k] for k in _HEADER_FACTS if run.header.get(k)}},
        "error": run.error or None,
        "report": REPORT_PAGE,
        "implementations": [entry(row, i, by_row.get((row.implementation, row.op), []), cases)
                            for i, row in rows],
    }


def cards(analysis: Analysis) -> list[dict[str, Any]]:
    """One card per run of the analysis, implementations in the report's order."""
    out = []
    for run in analysis.runs:
        rows = [(i, r) for i, r in enumerate(analysis.rows)
                if (r.framework, r.version) == (run.framework, run.version)]
        out.append(card(run, rows, analysis.cases))
    return out


def write_cards(analysis: Analysis, out: Path) -> list[Path]:
    """``out/cards/<framework>-<version>.json``, each written atomically."""
    paths = []
    for c in cards(analysis):
        path = out / CARDS_DIR / card_name(c["framework"], c["framework_version"])
        write_text_atomic(path, json.dumps(c, indent=1, sort_keys=False) + "\n")
        paths.append(path)
    return paths


# --- reading a card -----------------------------------------------------------------------


def find(card_data: Mapping[str, Any], implementation: str,
         op: str = "batchnorm") -> dict[str, Any]:
    """The card entry of ``implementation`` for ``op``; KeyError naming what is there."""
    for e in card_data["implementations"]:
        if e["implementation"] == implementation and e["op"] == op:
            return dict(e)
    names = sorted({e["implementation"] for e in card_data["implementations"]})
    raise KeyError(f"{implementation} ({op}) is not on the card of {card_data['framework']} "
                   f"{card_data['framework_version']}; it has {', '.join(names)}")


def measured(card_entry: Mapping[str, Any]) -> dict[str, str]:
    """Behaviour -> value for the earned values only (undecided ones are left out)."""
    return {k: str(v["value"]) for k, v in card_entry["behaviours"].items()
            if v["status"] == "earned"}


def conventions(card_entry: Mapping[str, Any]) -> Setting:
    """The oracle's conventions for a card entry, from its earned values alone (an
    undecided behaviour takes the oracle's reference value: check ``measured`` first for
    the ones your predictor rests on). ``Setting.epsilon`` is the measured default."""
    values = measured(card_entry)
    exact = {k: repr(v["exact"]) for k, v in card_entry["behaviours"].items()
             if v["status"] == "earned" and "exact" in v}
    return setting({**values, **exact})

