"""Packing runs for the trip back from a device machine, and unpacking them."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.compare.load import load_run
from conformance.pack import pack, unpack
from conformance.runner import RESULTS


def _run(root: Path, name: str, version: str = "1.0") -> Path:
    d = root / name
    (d / "outputs").mkdir(parents=True)
    (d / RESULTS).write_text('{"kind": "header", "framework": "numpy", '
                             f'"framework_version": "{version}", "device_type": "cuda"}}\n')
    (d / "outputs" / "a.npz").write_bytes(b"\x00" * 1000)
    return d


def test_round_trip_keeps_every_file_under_relative_names(tmp_path: Path) -> None:
    runs = [_run(tmp_path / "src", "numpy-1.0-py3.12-linux-x86_64-cuda"),
            _run(tmp_path / "src", "numpy-1.0-py3.12-linux-x86_64", "1.0")]
    archive = tmp_path / "out" / "runs.tar.gz"
    assert pack(runs, archive) == archive.stat().st_size
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert all(not n.startswith("/") and ".." not in n for n in names)
    assert sorted(names) == sorted(f"{r.name}/{f}" for r in runs
                                   for f in (RESULTS, "outputs/a.npz"))
    back = unpack(archive, tmp_path / "runs")
    assert [p.name for p in back] == sorted(r.name for r in runs)
    for r in runs:
        for f in (RESULTS, "outputs/a.npz"):
            assert (tmp_path / "runs" / r.name / f).read_bytes() == (r / f).read_bytes()
    assert load_run(tmp_path / "runs" / runs[0].name).version == "1.0 (cuda)"


def test_unpack_replaces_a_run_rather_than_merging(tmp_path: Path) -> None:
    run = _run(tmp_path / "src", "numpy-1.0-py3.12-x")
    pack([run], tmp_path / "a.tar.gz")
    stale = tmp_path / "runs" / run.name / "outputs" / "stale.npz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    unpack(tmp_path / "a.tar.gz", tmp_path / "runs")
    assert not stale.exists()


def test_pack_refuses_what_would_not_come_back(tmp_path: Path) -> None:
    run = _run(tmp_path, "numpy-1.0-py3.12-x")
    with pytest.raises(ValueError, match="over the 0 MiB"):
        pack([run], tmp_path / "big.tar.gz", limit=10)
    assert not (tmp_path / "big.tar.gz").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a run directory"):
        pack([tmp_path / "empty"], tmp_path / "x.tar.gz")


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("name", ["/abs/results.jsonl", "../up/results.jsonl",
                                  "run/../../results.jsonl"])
def test_unpack_refuses_members_outside_the_runs_dir(tmp_path: Path, name: str) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", {name: b"{}"})
    with pytest.raises(ValueError, match="leaves the runs directory"):
        unpack(archive, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_unpack_refuses_an_archive_without_runs(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "x.tar.gz", {"notes/readme.txt": b"hi"})
    with pytest.raises(ValueError, match="no run directories"):
        unpack(archive, tmp_path / "runs")
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip")
    assert main(["unpack", str(tmp_path / "junk.tar.gz"), "--out", str(tmp_path)]) == 2


def test_cli_pack_then_unpack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path / "src", "numpy-1.0-py3.12-x-cuda")
    assert main(["pack", str(run), "--out", str(tmp_path / "r.tar.gz")]) == 0
    assert main(["unpack", str(tmp_path / "r.tar.gz"), "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "packed 1 run(s)" in out and f"unpacked {tmp_path / 'runs' / run.name}" in out


def test_report_takes_several_runs_directories_but_not_one_run_twice(tmp_path: Path) -> None:
    from conformance.cases import generate, materialize

    materialize(generate(["dropout"]), tmp_path / "cases")
    for name in ("a", "b"):
        assert main(["run", "--cases", str(tmp_path / "cases"), "--out",
                     str(tmp_path / name / "runs"), "--progress", "off"]) == 0
    args = ["report", "--cases", str(tmp_path / "cases"), "--out", str(tmp_path / "rep"),
            "--runs", str(tmp_path / "a" / "runs")]
    assert main(args) == 0
    assert main([*args, str(tmp_path / "b" / "runs")]) == 2  # the same run twice
