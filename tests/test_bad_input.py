"""Bad input to the CLI: one line on stderr naming the file, line or option; exit 2; no trace.

Every case runs ``python -m conformance`` in a subprocess, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.arrays import save_arrays
from conformance.cases import generate, materialize
from conformance.runner import RESULTS

# Expectations files (conformance/expectations.py) are covered by that module's own tests.


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small case store and a finished numpy run of it."""
    root = tmp_path_factory.mktemp("good")
    cases = generate()
    picked = ([c for c in cases if c.op == "batchnorm"][:3]
              + [c for c in cases if c.op == "dropout"][:1])
    materialize(picked, root / "cases")
    proc = cli("run", "--cases", root / "cases", "--out", root / "runs", "--fresh")
    assert proc.returncode == 0, proc.stderr
    return root / "cases", root / "runs"


@pytest.fixture
def copy(good: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    cases, runs = good
    shutil.copytree(cases, tmp_path / "cases")
    shutil.copytree(runs, tmp_path / "runs")
    return tmp_path / "cases", tmp_path / "runs"


def manifest_lines(cases: Path) -> list[str]:
    return (cases / "manifest.jsonl").read_text().splitlines()


def write_manifest(cases: Path, lines: list[str]) -> None:
    (cases / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def results_file(runs: Path) -> Path:
    return next(runs.glob(f"*/{RESULTS}"))


# --- case files ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "report", "worker"])
def test_malformed_manifest_line(copy: tuple[Path, Path], tmp_path: Path, command: str) -> None:
    cases, runs = copy
    lines = manifest_lines(cases)
    lines[1] = lines[1][: len(lines[1]) // 2]  # a line cut in the middle
    write_manifest(cases, lines)
    choices: dict[str, list[str | Path]] = {
        "run": ["run", "--cases", cases, "--out", tmp_path / "new", "--fresh"],
        "report": ["report", "--runs", runs, "--cases", cases, "--out", tmp_path / "rep"],
        "worker": ["worker", "--framework", "numpy", "--cases", cases, "--out", tmp_path / "w"],
    }
    args = choices[command]
    assert_one_line_error(cli(*args), "manifest.jsonl:2")
    assert not (tmp_path / "rep").exists() or not any((tmp_path / "rep").iterdir())


def test_manifest_record_missing_field(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = copy
    lines = manifest_lines(cases)
    record = json.loads(lines[0])
    del record["seed"]
    lines[0] = json.dumps(record)
    write_manifest(cases, lines)
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "r", "--fresh"),
                          "manifest.jsonl:1", "seed")


def test_manifest_not_utf8(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = copy
    (cases / "manifest.jsonl").write_bytes(b"\xff\xfe\x00garbage\n")
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "r", "--fresh"),
                          "manifest.jsonl")


def test_truncated_input_npz(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = copy
    npz = sorted((cases / "inputs").glob("*.npz"))[0]
    npz.write_bytes(npz.read_bytes()[:100])
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "r", "--fresh"),
                          npz.name, "sha256")


def test_missing_input_npz(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = copy
    npz = sorted((cases / "inputs").glob("*.npz"))[0]
    npz.unlink()
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "r", "--fresh"),
                          npz.name, "missing")


def _replace_case(cases: Path, index: int, **params: object) -> str:
    """Rewrite one manifest record with new params (and a matching id), returning the id."""
    lines = manifest_lines(cases)
    record = json.loads(lines[index])
    record["params"].update(params)
    del record["id"]
    lines[index] = json.dumps(record)
    write_manifest(cases, lines)
    return str(index + 1)


@pytest.mark.parametrize("shape", [[0, 3], [4, 0, 2], [4, 3, 0, 2]])
def test_zero_size_dimension_is_refused(copy: tuple[Path, Path], tmp_path: Path,
                                        shape: list[int]) -> None:
    cases, _ = copy
    line = _replace_case(cases, 0, shape=shape)
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "r", "--fresh"),
                          f"manifest.jsonl:{line}", "zero-size")


def test_nan_and_inf_inputs_have_a_defined_outcome(copy: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    """Non-finite inputs are legal data: the case runs and is compared like any other."""
    cases, _ = copy
    lines = manifest_lines(cases)
    record = json.loads(lines[0])
    npz = cases / "inputs" / f"{record['id']}.npz"
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    arrays["train"].flat[0] = np.nan
    arrays["train"].flat[1] = np.inf
    arrays["eval"].flat[2] = -np.inf
    save_arrays(npz, arrays)
    record["sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    lines[0] = json.dumps(record, sort_keys=True)
    write_manifest(cases, lines)
    out, rep = tmp_path / "r", tmp_path / "rep"
    proc = cli("run", "--cases", cases, "--out", out, "--fresh")
    assert proc.returncode == 0, proc.stderr
    proc = cli("report", "--runs", out, "--cases", cases, "--out", rep)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = [r for r in (rep / "results.csv").read_text().splitlines() if record["id"] in r]
    assert rows and all(",PASS," in r for r in rows)  # NaN where the oracle has NaN


# --- results files ---------------------------------------------------------------------------

def _report(cases: Path, runs: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return cli("report", "--runs", runs, "--cases", cases, "--out", tmp_path / "rep")


def test_results_line_garbled_in_the_middle(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, runs = copy
    path = results_file(runs)
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:20]
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(_report(cases, runs, tmp_path), f"{RESULTS}:3", "not a JSON record")
    assert not (tmp_path / "rep" / "results.csv").exists()


def test_results_truncated_last_line_is_a_killed_run(copy: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    """The last record cut mid-line (a killed writer) is dropped, not an error."""
    cases, runs = copy
    path = results_file(runs)
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind("\n") + 30])
    proc = _report(cases, runs, tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("edit, needles", [
    (lambda r: {**r, "framework": "nope"} if r["kind"] == "header" else r,
     ("unknown framework 'nope'",)),
    (lambda r: {**r, "status": "exploded"} if r["kind"] == "result" else r,
     ("unknown status 'exploded'",)),
    (lambda r: {k: v for k, v in r.items() if k != "case_id"} if r["kind"] == "result" else r,
     ("lacks 'case_id'",)),
    (lambda r: {**r, "error": "boom"} if r["kind"] == "header" else r,
     ("header 'error'",)),
])
def test_results_with_bad_records(copy: tuple[Path, Path], tmp_path: Path, edit: object,
                                  needles: tuple[str, ...]) -> None:
    cases, runs = copy
    path = results_file(runs)
    records = [edit(json.loads(line)) for line in path.read_text().splitlines()]  # type: ignore[operator]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert_one_line_error(_report(cases, runs, tmp_path), RESULTS, *needles)


def test_results_output_npz_truncated(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, runs = copy
    npz = sorted(results_file(runs).parent.glob("outputs/*.npz"))[0]
    npz.write_bytes(npz.read_bytes()[:50])
    assert_one_line_error(_report(cases, runs, tmp_path), npz.name, "not a readable array file")


def test_results_output_npz_missing(copy: tuple[Path, Path], tmp_path: Path) -> None:
    cases, runs = copy
    npz = sorted(results_file(runs).parent.glob("outputs/*.npz"))[0]
    npz.unlink()
    assert_one_line_error(_report(cases, runs, tmp_path), npz.name, "missing")


def test_results_output_with_pickled_member_is_refused(copy: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    cases, runs = copy
    npz = sorted(results_file(runs).parent.glob("outputs/*.npz"))[0]
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    first = sorted(arrays)[0]
    obj = np.empty(1, dtype=object)
    obj[0] = {"x": 1}
    np.savez(npz.with_suffix(""), **{**arrays, first: obj})
    assert_one_line_error(_report(cases, runs, tmp_path), npz.name, "pickle")


def test_no_runs_directory(good: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = good
    assert_one_line_error(_report(cases, tmp_path / "nothing", tmp_path), "nothing")


# --- options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["run", "--fresh", "--resume"], ("--fresh and --resume",)),
    (["run", "--timeout", "0"], ("--timeout",)),
    (["run", "--timeout", "nan"], ("--timeout",)),
    (["run", "--jobs", "0"], ("--jobs",)),
    (["report", "--jobs", "0"], ("--jobs",)),
    (["run", "--env", "nope=/usr/bin/python3"], ("--env", "nope")),
    (["run", "--env", "numpy"], ("--env", "NAME=PYTHON")),
    (["run", "--unavailable", "nope=x"], ("--unavailable",)),
    (["worker", "--framework", "nope"], ("--framework", "nope")),
    (["generate", "--families", "nope"], ("nope",)),
    (["run", "--no-such-option"], ("--no-such-option",)),
])
def test_bad_options(good: tuple[Path, Path], tmp_path: Path, args: list[str],
                     needles: tuple[str, ...]) -> None:
    cases, _ = good
    extra = (["--cases", str(cases), "--out", str(tmp_path / "o")]
             if args[0] in ("run", "report") else [])
    if args[0] == "generate":
        extra = ["--out", str(tmp_path / "g")]
    assert_one_line_error(cli(*args, *extra), *needles)


def test_run_refuses_to_mix_with_earlier_results(good: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    cases, runs = good
    shutil.copytree(runs, tmp_path / "runs")
    assert_one_line_error(cli("run", "--cases", cases, "--out", tmp_path / "runs"),
                          "--resume", "--fresh")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = cli("--debug", "report", "--runs", tmp_path / "none", "--cases", tmp_path,
               "--out", tmp_path / "rep")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


# --- outputs ---------------------------------------------------------------------------------

def test_report_into_a_path_under_a_regular_file(good: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    """Root ignores permission bits, so the honest unwritable target is a path whose
    parent is a regular file: nothing can be created there, by anyone."""
    cases, runs = good
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(cli("report", "--runs", runs, "--cases", cases,
                              "--out", blocker / "rep"), "--out", "not writable")
    assert blocker.read_text() == "not a directory"


def test_report_onto_a_regular_file(good: tuple[Path, Path], tmp_path: Path) -> None:
    cases, runs = good
    target = tmp_path / "rep"
    target.write_text("keep")
    assert_one_line_error(cli("report", "--runs", runs, "--cases", cases, "--out", target),
                          "--out", "not writable")
    assert target.read_text() == "keep"


def test_run_into_a_path_under_a_regular_file(good: tuple[Path, Path], tmp_path: Path) -> None:
    cases, _ = good
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(cli("run", "--cases", cases, "--out", blocker / "runs", "--fresh"),
                          "--out", "not writable")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_failed_report_leaves_the_previous_one_whole(good: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    """Reports are written atomically: bad input later leaves the old files untouched."""
    cases, runs = good
    rep = tmp_path / "rep"
    assert cli("report", "--runs", runs, "--cases", cases, "--out", rep).returncode == 0
    before = _files(rep)
    assert "cards/numpy-" in " ".join(before)  # the cards too, one directory down
    broken = tmp_path / "runs"
    shutil.copytree(runs, broken)
    path = results_file(broken)
    lines = path.read_text().splitlines()
    lines[1] = "{oops"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(cli("report", "--runs", broken, "--cases", cases, "--out", rep))
    assert _files(rep) == before
