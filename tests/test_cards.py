"""Convention cards: built from a real run through the real pipeline, equal to its analysis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import generate
from conformance.cases.model import Case
from conformance.cases.store import load_manifest
from conformance.compare.analyze import Analysis, analyze
from conformance.compare.fit import Finding
from conformance.compare.load import load_runs
from conformance.report import cards
from conformance.spec import BEHAVIOUR_BY_NAME, UNDECIDED, behaviours_for

FAMILIES = ("bn_layout", "bn_momentum", "bn_epsilon", "bn_batch", "dropout", "centering")


def conformance(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, f"conformance {' '.join(args)} failed:\n{done.stderr}"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Analysis]:
    """The numpy worker through generate / run / report, and the same runs analysed here."""
    root = tmp_path_factory.mktemp("cards")
    conformance("generate", "--out", str(root / "cases"), "--families", *FAMILIES)
    conformance("run", "--cases", str(root / "cases"), "--out", str(root / "runs"),
                "--env", f"numpy={sys.executable}", "--progress", "off")
    conformance("report", "--runs", str(root / "runs"), "--cases", str(root / "cases"),
                "--out", str(root / "reports"))
    cases = {c.id: c for c in load_manifest(root / "cases")}
    return root / "reports", analyze(load_runs(root / "runs"), cases, root / "cases")


def _card(reports: Path) -> dict[str, Any]:
    paths = sorted((reports / cards.CARDS_DIR).glob("*.json"))
    assert [p.name for p in paths] == [p.name for p in paths if p.name.startswith("numpy-")]
    assert len(paths) == 1, f"one run, one card; found {[p.name for p in paths]}"
    data: dict[str, Any] = json.loads(paths[0].read_text())
    return data


def test_one_card_per_run_with_schema_and_run_facts(pipeline: tuple[Path, Analysis]) -> None:
    reports, analysis = pipeline
    card = _card(reports)
    run = analysis.runs[0]
    assert card["card_schema"] == cards.CARD_SCHEMA
    assert (card["framework"], card["framework_version"]) == (run.framework, run.version)
    assert card["run"]["directory"] == run.path.name and card["error"] is None
    assert cards.card_name("torch", "2.13.0 (cuda)") == "torch-2.13.0-cuda.json"


def test_card_values_are_the_analysis_values(pipeline: tuple[Path, Analysis]) -> None:
    """Every behaviour spec.py defines for a row's op is on the card, with the measured
    value, its status, evidence, documentation and agreement exactly as analysed."""
    reports, analysis = pipeline
    card = _card(reports)
    entries = {(e["implementation"], e["op"]): e for e in card["implementations"]}
    assert len(entries) == len(analysis.rows)
    discrepancies = {(d["implementation"], d["op"], d["behaviour"]): d
                     for d in analysis.discrepancies}
    for row in analysis.rows:
        entry = entries[(row.implementation, row.op)]
        assert list(entry["behaviours"]) == [b.name for b in behaviours_for(row.op)]
        for finding in row.findings:
            if finding.behaviour not in entry["behaviours"]:
                assert BEHAVIOUR_BY_NAME[finding.behaviour].op != row.op, finding.behaviour
                continue  # another op's behaviour: not in discrepancies.csv, nor on the card
            got = entry["behaviours"][finding.behaviour]
            where = f"{row.implementation} {finding.behaviour}"
            assert got["value"] == finding.actual, where
            assert got["status"] == (finding.actual if finding.actual in UNDECIDED
                                     else "earned"), where
            assert got["evidence"] == finding.evidence[:cards.MAX_EVIDENCE], where
            d = discrepancies.get((row.implementation, row.op, finding.behaviour))
            if d is not None:
                assert got["agrees"] == d["agrees"], where
                assert (got["documented"] or {}).get("value", "") == (d["documented"] or ""), \
                    where


def test_oracle_card_reads_like_torch(pipeline: tuple[Path, Analysis]) -> None:
    card = _card(pipeline[0])
    bn_entry = cards.find(card, "conformance.oracle.batchnorm.sequence")
    b = bn_entry["behaviours"]
    assert b["momentum_convention"]["value"] == "weight_on_new"
    assert b["momentum_convention"]["status"] == "earned"
    assert b["momentum_convention"]["evidence"], "an earned value names its decisive cases"
    assert b["epsilon_placement"]["documented"]["source"]
    # The oracle's port layer records its four variables (read from the built layer).
    assert [v["role"] for v in bn_entry["variables"]] == [
        "gamma", "beta", "running_mean", "running_var"]
    assert all(v["shape"] == ["C"] for v in bn_entry["variables"])
    assert bn_entry["channel_axis"] == [-1, 1]  # channels-last and channels-first cases
    conv = cards.conventions(bn_entry)
    assert conv.conv.momentum_convention == "weight_on_new"
    assert conv.epsilon == pytest.approx(1e-5)
    with pytest.raises(KeyError, match="not on the card of numpy"):
        cards.find(card, "torch.nn.BatchNorm2d")


def test_every_report_link_opens_a_detail_view(pipeline: tuple[Path, Analysis]) -> None:
    reports, _ = pipeline
    page = (reports / "index.html").read_text()
    links = [b["report"] for e in _card(reports)["implementations"]
             for b in e["behaviours"].values() if b["report"]]
    assert len(links) > 20
    for link in links:
        page_name, anchor = link.split("#")
        assert (reports / cards.CARDS_DIR / page_name).resolve() == \
            (reports / "index.html").resolve()
        assert f"data-detail='{anchor}'" in page, f"{link}: no matrix cell opens it"


def test_inconclusive_keeps_the_tied_values_and_is_never_filled_from_docs() -> None:
    f = Finding("momentum_convention", "inconclusive", [],
                {"weight_on_old": "3/4 cases fit, median error/tol 0.1",
                 "weight_on_new": "3/4 cases fit, median error/tol 0.2",
                 "cumulative_average": "0/4 cases fit, median error/tol 9"},
                "the cases cannot tell weight_on_new, weight_on_old apart")
    assert cards.tied_values(f) == ["weight_on_new", "weight_on_old"]
    assert cards.tied_values(Finding("x", "inconclusive")) == []
    entry = {"behaviours": {
        "momentum_convention": {"value": "inconclusive", "status": "inconclusive"},
        "epsilon_default": {"value": "0.001", "status": "earned", "exact": 0.0010000000474974513},
        "inference_statistics": {"value": "not_applicable", "status": "not_applicable"}}}
    assert cards.measured(entry) == {"epsilon_default": "0.001"}
    s = cards.conventions(entry)
    assert s.epsilon == 0.0010000000474974513  # the exact value, not the rounded text
    assert s.momentum is None


def test_variables_follow_the_adapter_contract() -> None:
    """Records carrying ``variables`` (as adapters write them, read off the real layer)."""
    case = next(c for c in generate(["bn_layout"]) if len(c.shape) == 4)
    other = Case.make("batchnorm", "bn_test", 1, case.tolerance, shape=(2, 7, 3, 3),
                      channel_axis="first")  # 7 channels: the shape follows the layer

    def rec(c: Any, dtype: str) -> dict[str, Any]:
        return {"case_id": c.id, "status": "ok", "variables": [
            {"role": "gamma", "name": "weight", "shape": [c.channels], "dtype": dtype},
            {"role": "running_var", "name": "running_var", "shape": [c.channels],
             "dtype": dtype},
            {"role": "count", "name": "num_batches_tracked", "shape": [], "dtype": "int64"}]}

    cases = {case.id: case, other.id: other}
    got = cards.variables_of([rec(case, "float32"), rec(other, "float64"),
                              {"case_id": case.id, "status": "error"}], cases)
    assert isinstance(got, list)
    by_role = {v["role"]: v for v in got}
    assert by_role["gamma"] == {"role": "gamma", "name": "weight", "shape": ["C"],
                                "dtypes": ["float32", "float64"],
                                "cases": [case.id, other.id]}
    assert by_role["count"]["shape"] == [] and by_role["count"]["dtypes"] == ["int64"]
    assert cards.variables_of([{"case_id": case.id, "status": "ok"}], cases) == \
        cards.NOT_RECORDED
