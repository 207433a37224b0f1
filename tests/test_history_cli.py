"""``conformance history``: bad requests are one line and exit 2; ``--list`` plans only."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.cli import main


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", "history", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "message"), [
    (("keras>=3", "torch>=2"), "packages of several environments (tensorflow, torch)"),
    (("leftpad>=1",), "leftpad: pinned by 0 environments"),
    (("keras>=three",), "cannot read '>=three'"),
    (("numpy>=2",), "the numpy oracle has no history"),
    (("keras>=3", "--frameworks", "torch"), "--frameworks torch: not a framework of "
                                            "environment tensorflow"),
    (("keras>=3", "--jobs", "0"), "--jobs must be at least 1"),
])
def test_bad_requests_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_list_shows_the_releases_and_their_partners(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    index = {"tensorflow-cpu": ["2.17.0", "2.16.2", "2.16.1"], "tf-keras": ["2.16.0"]}
    monkeypatch.setattr("conformance.history.request.list_versions",
                        lambda package, python, **kw: index[package])
    assert main(["history", "tensorflow-cpu>=2.16", "tf-keras>=2.16", "--latest-patch",
                 "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 releases of tensorflow-cpu for Python 3.")
    assert out[0].endswith("(environment tensorflow, frameworks tf_keras, tensorflow)")
    assert out[1:] == ["  tensorflow-cpu==2.16.2 tf-keras==2.16.0",
                       "  tensorflow-cpu==2.17.0  (not run: no tf-keras release of the 2.17 "
                       "series matches tf-keras>=2.16)"]


def test_no_matching_release_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("conformance.history.request.list_versions",
                        lambda package, python, **kw: ["3.0.0"])
    assert main(["history", "keras>=4", "--list"]) == 2
    assert "no release of keras on the package index matches keras>=4" in capsys.readouterr().err
