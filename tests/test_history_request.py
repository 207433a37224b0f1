"""Reading a history request and choosing its releases from what the index lists."""

from __future__ import annotations

import subprocess

import pytest

from conformance.history.request import (
    list_versions,
    other_pythons,
    parse_request,
    select,
    version_key,
)

KERAS = ["3.15.1", "3.15.0", "3.12.4", "3.12.0", "3.2.1", "3.2.0", "3.0.0", "2.15.0",
         "3.16.0rc1", "3.1.0.dev2"]


def test_version_order_knows_post_releases_and_drops_previews() -> None:
    assert version_key("2.15.0") < version_key("2.15.0.post1") < version_key("2.15.1")  # type: ignore[operator]
    assert version_key("3.0") == version_key("3.0.0")
    assert version_key("3.16.0rc1") is None and version_key("3.1.0.dev2") is None
    assert version_key("3.10.0") > version_key("3.9.2")  # type: ignore[operator]


def test_a_range_selects_final_releases_oldest_first() -> None:
    got = select(parse_request(["keras>=3.0"]), {"keras": KERAS})
    assert [r.version for r in got] == ["3.0.0", "3.2.0", "3.2.1", "3.12.0", "3.12.4",
                                        "3.15.0", "3.15.1"]
    assert got[0].pins == ("keras==3.0.0",) and not got[0].skip


def test_exact_pins_of_one_package_are_a_list() -> None:
    got = select(parse_request(["keras==3.2.1", "keras==3.12.0"]), {"keras": KERAS})
    assert [r.version for r in got] == ["3.2.1", "3.12.0"]


def test_clauses_combine_and_latest_patch_keeps_one_per_series() -> None:
    req = parse_request(["keras>=3.0,<3.15", "keras!=3.12.4"])
    assert [r.version for r in select(req, {"keras": KERAS})] == ["3.0.0", "3.2.0", "3.2.1",
                                                                   "3.12.0"]
    latest = select(parse_request(["keras>=3.0"]), {"keras": KERAS}, latest_patch=True)
    assert [r.version for r in latest] == ["3.0.0", "3.2.1", "3.12.4", "3.15.1"]


def test_packages_that_move_together_pair_by_minor_series() -> None:
    available = {"tensorflow-cpu": ["2.16.1", "2.16.2", "2.17.0", "2.18.0"],
                 "tf-keras": ["2.16.0", "2.18.0", "2.18.1rc0", "2.15.1"]}
    got = select(parse_request(["tensorflow-cpu>=2.16", "tf_keras>=2.16"]), available)
    assert [r.pins for r in got] == [
        ("tensorflow-cpu==2.16.1", "tf-keras==2.16.0"),
        ("tensorflow-cpu==2.16.2", "tf-keras==2.16.0"),
        ("tensorflow-cpu==2.17.0",), ("tensorflow-cpu==2.18.0", "tf-keras==2.18.0")]
    assert got[2].skip.startswith("no tf-keras release of the 2.17 series matches")
    assert not got[3].skip and got[2].skip_status == "unpaired"


def test_releases_only_for_other_pythons_are_listed_to_be_recorded() -> None:
    got = select(parse_request(["keras>=3.0"]), {"keras": ["3.1.0"]},
                 elsewhere={"3.0.0": ["3.9", "3.10"], "2.0.0": ["3.8"], "3.1.0": ["3.12"]})
    assert [(r.version, r.skip_status, r.skip) for r in got] == [
        ("3.0.0", "no_files_for_python", "the index has files of keras 3.0.0 only for "
                                         "Python 3.9, 3.10"), ("3.1.0", "", "")]


def test_other_pythons_finds_what_one_listing_leaves_out() -> None:
    by_python = {"3.11": "3.1.0", "3.9": "3.0.0, 3.1.0", "3.10": "3.0.0, 3.1.0"}

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        py = cmd[cmd.index("--python-version") + 1]
        if py not in by_python:
            return _answer("", 1, "ERROR: No matching distribution found for keras")
        return _answer(f"keras (x)\nAvailable versions: {by_python[py]}\n")

    assert other_pythons("keras", "3.11", pythons=("py",), run=run) == {"3.0.0": ["3.9", "3.10"]}


@pytest.mark.parametrize(("args", "message"), [
    ([], "name at least one package range"), (["keras>=three"], "cannot read '>=three'"),
    (["keras=>3"], "cannot read"), (["keras>=3.*"], "cannot read"), (["!!"], "expected"),
])
def test_bad_requests_are_errors(args: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_request(args)


def test_wildcards_and_compatible_release() -> None:
    assert [r.version for r in select(parse_request(["keras==3.2.*"]), {"keras": KERAS})] == [
        "3.2.0", "3.2.1"]
    assert [r.version for r in select(parse_request(["keras~=3.12.0"]), {"keras": KERAS})] == [
        "3.12.0", "3.12.4"]


def _answer(stdout: str, code: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], code, stdout, stderr)


def test_list_versions_reads_pip_index_and_skips_a_python_without_pip() -> None:
    asked: list[list[str]] = []

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        asked.append(cmd)
        if cmd[0] == "nopip":
            return _answer("", 1, "/x/python: No module named pip")
        return _answer("keras (3.15.1)\nAvailable versions: 3.15.1, 3.15.0, 3.0.0\n")

    assert list_versions("keras", "3.11", pythons=("nopip", "py"), run=run) == [
        "3.15.1", "3.15.0", "3.0.0"]
    assert asked[1][1:] == ["-m", "pip", "index", "versions", "keras", "--python-version",
                            "3.11", "--disable-pip-version-check"]


def test_an_unknown_package_is_an_error_not_an_empty_history() -> None:
    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return _answer("", 1, "ERROR: No matching distribution found for leftpad")

    with pytest.raises(ValueError, match=r"leftpad: the package index lists no release for "
                                         r"Python 3\.11 \(ERROR: No matching distribution"):
        list_versions("leftpad", "3.11", pythons=("py",), run=run)
    with pytest.raises(ValueError, match="cannot list releases"):
        list_versions("keras", "3.11", pythons=("nopip",),
                      run=lambda cmd: _answer("", 1, "No module named pip"))
