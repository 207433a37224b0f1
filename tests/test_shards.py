"""Runs split across machines: what a run directory records, what `report` refuses to merge,
and two "machines" whose merged report equals one machine's (see tests/two_machines.py).

The two machines here need no framework: machine A runs the NumPy oracle row, machine B the
test-only faulty adapter with no fault switched on, which is the NumPy oracle under the
version `<numpy>+faults` (so the two are two columns, as two frameworks are). The same
test with PyTorch on machine B runs in the torch environment
(tests/frameworks/test_shards_torch.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from two_machines import assert_same_reports, assert_same_runs, conformance, machine, report

from conformance import __version__
from conformance.cases import generate, materialize
from conformance.cases.store import case_set
from conformance.cli import main
from conformance.compare.load import Run
from conformance.runner import RESULTS, read_records
from conformance.shards import check_mergeable, environment_facts
from conformance.spec import SCHEMA_VERSION

FAMILIES = ["bn_momentum", "bn_sequence", "dropout", "centering"]


def no_fault_python(tmp: Path) -> str:
    """A python whose numpy worker is the faulty adapter with a fault that never fires."""
    script = tmp / "python-numpy-faults"
    script.write_text("#!/bin/sh\nCONFORMANCE_FAULTS='slow@no-such-case' "
                      f"exec {sys.executable} \"$@\"\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("machines")
    py, faulty = sys.executable, no_fault_python(root)
    a = machine(root / "A", py, [f"numpy={py}"], FAMILIES)
    b = machine(root / "B", py, [f"numpy={faulty}"], FAMILIES)
    single = machine(root / "single", py, [f"numpy={py}", f"numpy={faulty}"], FAMILIES)
    # The report is written on a third machine, with cases it generated itself.
    conformance(py, "generate", "--out", root / "merge" / "cases", "--families", *FAMILIES)
    return {"A": a, "B": b, "single": single, "merge": root / "merge", "root": root}


def test_two_machines_merge_to_the_single_machine_report(machines: dict[str, Path]) -> None:
    py, root = sys.executable, machines["root"]
    merged = report(py, [machines["A"], machines["B"]], machines["merge"] / "cases",
                    root / "merged-report")
    single = report(py, [machines["single"]], root / "single" / "cases", root / "single-report")
    assert_same_runs([machines["A"], machines["B"]], machines["single"])
    assert_same_reports(merged, single)
    # Both columns made it: a merge that dropped one machine would still compare equal to
    # nothing, so check the report holds both versions.
    versions = {line.split(",")[1] for line in
                (merged / "results.csv").read_text().splitlines()[1:]}
    assert any(v.endswith("+faults") for v in versions) and len(versions) == 2, versions


def _header(run_dir: Path) -> dict[str, Any]:
    return next(r for r in read_records(run_dir / RESULTS) if r["kind"] == "header")


def test_a_run_directory_describes_itself(machines: dict[str, Path]) -> None:
    run_dir = next(p for p in machines["A"].iterdir() if (p / RESULTS).exists())
    h = _header(run_dir)
    missing = {"framework", "framework_version", "python", "platform", "device_type", "numpy",
               "suite_version", "schema", "case_set", "env", "packages"} - set(h)
    assert not missing, f"{run_dir}: header lacks {sorted(missing)}"
    assert h["case_set"] == case_set(machines["A"].parent / "cases")
    assert (h["env"], h["packages"], h["suite_version"]) == ("numpy", {}, __version__)


def test_environment_facts_are_the_installed_versions_not_the_pins() -> None:
    # mxnet's environment pins numpy==1.23.5; here numpy is whatever this python has.
    import numpy as np

    facts = environment_facts("mxnet")
    assert facts["env"] == "mxnet"
    assert facts["packages"]["numpy"] == np.__version__
    assert set(facts["packages"]) == {"mxnet", "numpy"}
    with pytest.raises(ValueError, match="unknown framework"):
        environment_facts("caffe")


# --- refusals: one line, exit status 2 ------------------------------------------------


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    materialize(generate(["centering"])[:2], root)
    return root


def fake_run(root: Path, name: str, **header: object) -> Path:
    """A run directory holding only a header: all a refusal needs to read."""
    base = {"kind": "header", "schema": SCHEMA_VERSION, "suite_version": __version__,
            "framework": "numpy", "framework_version": "2.0.0", "python": "3.11.0",
            "platform": "linux-x86_64", "device_type": "cpu"}
    path = root / name / "run"
    path.mkdir(parents=True)
    (path / RESULTS).write_text(json.dumps({**base, **header}) + "\n")
    return root / name


def report_error(capsys: pytest.CaptureFixture[str], runs: list[Path], cases: Path,
                 out: Path) -> str:
    code = main(["report", "--runs", *map(str, runs), "--cases", str(cases), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, f"report exited {code}, expected 2 (refused): {err}"
    assert err.count("\n") == 1 and err.startswith("conformance: error: "), err
    assert not (out / "results.csv").exists(), "a refused merge wrote a report"
    return err


def test_runs_of_different_case_sets_are_refused(cases: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path, "a", case_set=case_set(cases))
    b = fake_run(tmp_path, "b", case_set="0123456789abcdef", framework="torch")
    err = report_error(capsys, [a, b], cases, tmp_path / "out")
    assert "runs of different case sets" in err and "0123456789abcdef" in err, err


def test_runs_of_another_case_set_than_cases_are_refused(
        cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path, "a", case_set="0123456789abcdef")
    b = fake_run(tmp_path, "b", case_set="0123456789abcdef", framework="torch")
    err = report_error(capsys, [a, b], cases, tmp_path / "out")
    assert f"--cases {cases} is {case_set(cases)}" in err, err


def test_real_runs_against_the_cases_of_another_machine_are_refused(
        machines: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "cases"
    materialize(generate(FAMILIES[:1]), other)  # a smaller case set than the runs ran
    err = report_error(capsys, [machines["A"], machines["B"]], other, tmp_path / "out")
    assert "runs of different case sets" in err, err


def test_runs_of_different_suite_versions_are_refused(
        cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path, "a", case_set=case_set(cases))
    b = fake_run(tmp_path, "b", case_set=case_set(cases), framework="torch",
                 suite_version="0.0.1")
    err = report_error(capsys, [a, b], cases, tmp_path / "out")
    assert "runs of different suite versions" in err and "0.0.1" in err, err


def test_runs_of_different_schemas_are_refused(cases: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path, "a", case_set=case_set(cases))
    b = fake_run(tmp_path, "b", case_set=case_set(cases), framework="torch",
                 schema=SCHEMA_VERSION + 1)
    err = report_error(capsys, [a, b], cases, tmp_path / "out")
    assert "runs of different results schemas" in err, err


def test_one_framework_version_from_two_machines_is_refused(
        cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path, "a", case_set=case_set(cases))
    b = fake_run(tmp_path, "b", case_set=case_set(cases), platform="darwin-arm64")
    err = report_error(capsys, [a, b], cases, tmp_path / "out")
    assert "numpy 2.0.0: two runs" in err, err


def test_a_header_without_the_fields_is_not_checked_on_them(cases: Path) -> None:
    # An environment that could not start writes a header with no case set or suite
    # version; it holds no results to mismatch, so it merges with any runs.
    ok = Run(Path("a"), {"framework": "numpy", "schema": SCHEMA_VERSION,
                         "suite_version": __version__, "case_set": case_set(cases)})
    down = Run(Path("b"), {"framework": "torch", "framework_version": "unavailable",
                           "schema": SCHEMA_VERSION})
    check_mergeable([ok, down], cases)
    with pytest.raises(ValueError, match="runs of different case sets"):
        check_mergeable([ok, Run(Path("c"), {**ok.header, "case_set": "x"})], cases)
