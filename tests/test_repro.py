"""Reproducibility: same environment, same bytes; same case ids on every machine and version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import generate, materialize
from conformance.cases.model import Case, Tolerance
from conformance.runner import RESULTS, TIMING_FIELDS, read_records

TORCH_PYTHON = Path("/tmp/venv-torch/bin/python")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    every = generate()
    picked = ([c for c in every if c.op == "batchnorm"][:4]
              + [c for c in every if c.op == "dropout"][:3]
              + [c for c in every if c.op == "centering"][:2])
    materialize(picked, root)
    return root


def _run(cases: Path, out: Path, env: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--cases", str(cases),
                           "--out", str(out), "--fresh", "--env", env],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" not in proc.stdout and "restart" not in proc.stdout, proc.stdout


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
            for r in read_records(run_dir / RESULTS)]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.npz"))}


def _assert_identical_runs(cases: Path, tmp_path: Path, env: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _run(cases, a, env)
    _run(cases, b, env)
    dirs_a = sorted(p.name for p in a.iterdir())
    assert dirs_a == sorted(p.name for p in b.iterdir())
    for name in dirs_a:
        ra, rb = _records(a / name), _records(b / name)
        assert any(r["kind"] == "result" for r in ra)
        assert ra == rb  # everything but timing, in the same order
    fa, fb = _files(a), _files(b)
    assert fa and fa.keys() == fb.keys()
    for key in fa:
        assert fa[key] == fb[key], key


def test_numpy_runs_are_identical_apart_from_timing(cases: Path, tmp_path: Path) -> None:
    _assert_identical_runs(cases, tmp_path, f"numpy={sys.executable}")


@pytest.mark.skipif(not TORCH_PYTHON.exists(), reason="no torch environment on this machine")
def test_torch_runs_are_identical_apart_from_timing(cases: Path, tmp_path: Path) -> None:
    _assert_identical_runs(cases, tmp_path, f"torch={TORCH_PYTHON}")


def test_generate_is_byte_identical(tmp_path: Path) -> None:
    picked = generate()[:12]
    materialize(picked, tmp_path / "a")
    materialize(picked, tmp_path / "b")
    for rel in ["manifest.jsonl", *(f"inputs/{c.id}.npz" for c in picked)]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_case_id_is_pinned() -> None:
    """The id is sha256 of canonical JSON: no hash(), no platform, no version in it.

    A change here changes every case id and orphans every stored result; it must
    be deliberate.
    """
    case = Case.make("batchnorm", "bn_pin", 1234, Tolerance(1e-5, 1e-5), shape=(4, 3),
                     dtype="float32", momentum=0.1, epsilon="default", steps=2)
    assert case.id == "bn_pin-40e1fd8d60"
    same = Case.make("batchnorm", "bn_pin", 1234, Tolerance(1.0, 1.0), steps=2,
                     epsilon="default", momentum=0.1, dtype="float32",
                     shape=[4, 3])  # type: ignore[arg-type]  # as JSON gives it
    assert same.id == case.id  # parameter order, list vs tuple and tolerance do not matter


def test_case_ids_do_not_depend_on_the_process() -> None:
    """Same ids under another hash seed, in a fresh interpreter."""
    code = "from conformance.cases import generate; print(' '.join(c.id for c in generate()))"
    ids = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=120, check=True)
        ids.append(proc.stdout.split())
    assert ids[0] == ids[1] == [c.id for c in generate()]
