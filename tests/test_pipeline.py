"""End to end with the oracle row: generate, run (isolated worker), report."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.spec import DISCREPANCY_COLUMNS, RESULTS_COLUMNS


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    for args in (("generate", "--out", str(root / "cases")),
                 ("run", "--cases", str(root / "cases"), "--out", str(root / "runs"),
                  "--env", f"numpy={sys.executable}"),
                 ("report", "--runs", str(root / "runs"), "--cases", str(root / "cases"),
                  "--out", str(root / "reports"))):
        done = conformance(*args)
        assert done.returncode == 0, done.stderr
    return root / "reports"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_results_schema_and_oracle_passes_its_own_checks(reports: Path) -> None:
    rows = _rows(reports / "results.csv")
    assert tuple(rows[0]) == RESULTS_COLUMNS
    assert {r["framework"] for r in rows} == {"numpy"}
    failing = [r for r in rows if r["status"] != "PASS"]
    assert not failing, failing[:3]
    assert {r["check"] for r in rows} >= {"y_train", "running_mean", "running_var", "y_eval",
                                          "drop_fraction", "mask_sharing"}


def test_oracle_agrees_with_its_documentation(reports: Path) -> None:
    rows = _rows(reports / "discrepancies.csv")
    assert tuple(rows[0]) == DISCREPANCY_COLUMNS
    documented = [r for r in rows if r["documented"]]
    assert len(documented) >= 12
    assert all(r["agrees"] == "yes" for r in documented), [r for r in documented
                                                            if r["agrees"] != "yes"]
    actual = {(r["implementation"], r["behaviour"]): r["actual"] for r in rows}
    oracle = "conformance.oracle.batchnorm.sequence"
    assert actual[(oracle, "momentum_convention")] == "weight_on_new"
    assert actual[(oracle, "batch_size_one_training")] == "beta"
    assert actual[(f"{oracle}[mean_only]", "variance_normalized")] == "no"
    assert actual[("conformance.oracle.dropout", "rate_one")] == "zeros"


def test_html_escapes_and_is_self_contained(reports: Path) -> None:
    page = (reports / "index.html").read_text()
    assert "conformance.oracle.batchnorm.sequence" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<script src" not in page


def test_unknown_environment_is_one_line_error(tmp_path: Path) -> None:
    done = conformance("run", "--cases", str(tmp_path), "--env", "caffe=/usr/bin/python3")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "unknown environment 'caffe'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unimportable_framework_becomes_an_error_row(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    assert conformance("generate", "--out", str(cases), "--families", "dropout").returncode == 0
    done = conformance("run", "--cases", str(cases), "--out", str(tmp_path / "runs"),
                       "--env", f"numpy={sys.executable}",
                       "--unavailable", "mxnet=pip could not install mxnet")
    assert done.returncode == 0, done.stderr
    assert "mxnet" in done.stdout and "ERROR" in done.stdout
    rep = conformance("report", "--runs", str(tmp_path / "runs"), "--cases", str(cases),
                      "--out", str(tmp_path / "rep"))
    assert rep.returncode == 0, rep.stderr
    assert "pip could not install mxnet" in (tmp_path / "rep" / "index.html").read_text()
