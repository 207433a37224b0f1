"""``conformance port``: bad input is one line and exit 2; a port prints and writes JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from port_helpers import numpy_runs  # tests/ is on sys.path (rootdir-relative)

from conformance.cli import main


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return numpy_runs(tmp_path_factory.mktemp("port-cli"))


@pytest.mark.parametrize(("argv", "message"), [
    (["torch.nn.BatchNorm2d"], "needs SOURCE and TARGET"),
    (["torch.nn.BatchNorm2d", "bogus.X"], "not an implementation name"),
    (["--defaults", "torch.nn.BatchNorm2d"], "--defaults takes no"),
    (["torch.nn.BatchNorm2d", "numpy", "--env", "nope=/x"], "--env 'nope=/x'"),
    (["torch.nn.BatchNorm2d", "numpy", "--runs", "/no/such/runs"], "--runs"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str],
                                      measured: tuple[Path, Path]) -> None:
    runs, cases = measured
    base = ["port", "--cases", str(cases)] + ([] if "--runs" in argv else ["--runs",
                                                                           str(runs)])
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_bad_checkpoint_is_refused_before_any_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        measured: tuple[Path, Path]) -> None:
    runs, cases = measured
    (tmp_path / "w.bin").write_text("x")
    code = main(["port", "torch.nn.BatchNorm2d", "numpy", "--runs", str(runs), "--cases",
                 str(cases), "--checkpoint", str(tmp_path / "w.bin")])
    assert code == 2 and "unknown format" in capsys.readouterr().err


def test_a_port_prints_the_verdicts_and_writes_json(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    measured: tuple[Path, Path]) -> None:
    runs, cases = measured
    out = tmp_path / "ports"
    assert main(["port", "numpy", "numpy", "--runs", str(runs), "--cases", str(cases),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "inference port:  exact" in text and "training port:   exact" in text, text
    (written,) = out.glob("*.json")
    record = json.loads(written.read_text())
    assert record["source_framework"] == record["target_framework"] == "numpy"
    assert record["inference"]["grade"]["grade"] == "exact"
