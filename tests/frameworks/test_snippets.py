"""Every repro snippet the report can show runs, in its framework's own environment.

The HTML report offers a snippet for each matrix cell and each suspected bug. Here each
framework's session runs one snippet per *qualified* row the default matrix produces
(``[fit]``, ``[float64]``, ``[fix_gamma=False]``, ``[renorm]``, ...: the names
``Implementation.qualify`` gives a supported case), so a generator that ignores or breaks
on a qualifier fails here, not in a reader's terminal. A recipe row's snippet runs the
suite's own row; when that row declines the case (``Unsupported``, as the worker would
record it) the next case with the same qualified name is tried, and a name no case runs
needs no snippet.

Each environment's snippets run in a fresh interpreter (this module as a script), as a
reader runs one: other test modules of the session leave framework state behind (after
the ONNX Runtime adapter tests, torch's TorchScript exporter fails on a later export in
the same process), which is not what a snippet meets in a terminal.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.adapters.base import Adapter, Implementation, Unsupported
from conformance.cases import generate, inputs_for
from conformance.cases.model import Case
from conformance.environments import ADAPTERS, ENV_BY_NAME
from conformance.report.snippets import snippet

CASES = generate()


def _adapter(framework: str) -> Adapter:
    module, cls = ADAPTERS[framework].split(":")
    adapter: Adapter = getattr(importlib.import_module(module), cls)()
    adapter.load()
    return adapter


def qualified_rows(impls: list[Implementation]) -> Iterator[tuple[str, list[Case]]]:
    """Each qualified row name with the cases that produce it, in case order, dropout
    rates of exactly 0 or 1 last: those are the edge cases where frameworks raise by
    design (a measured behaviour, rate_one), so the snippet runs a case the row runs."""
    edge = [c for c in CASES if c.op == "dropout" and c.get("rate") in (0.0, 1.0)]
    ordered = [c for c in CASES if c not in edge] + edge
    rows: dict[str, list[Case]] = {}
    for impl in impls:
        for case in ordered:
            if case.op == impl.op and impl.supports(case) is None:
                rows.setdefault(impl.qualify(case), []).append(case)
    yield from sorted(rows.items())


def _run(code: str, name: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"<snippet {name}>", "exec"), {"__name__": "__main__"})


def _smoke_here(env: str) -> tuple[int, list[str]]:
    """Run the snippets in this process: how many ran, and the failures."""
    failures, ran = [], 0
    for framework in ENV_BY_NAME[env].frameworks:
        for name, cases in qualified_rows(list(_adapter(framework).implementations())):
            for case in cases:
                try:
                    _run(snippet(framework, name, case, inputs_for(case)), name)
                except Unsupported:
                    continue  # the suite's own row declines this case; try the next
                except Exception as exc:  # every failure is reported below
                    failures.append(f"{framework} {name} on {case.id}: "
                                    f"{type(exc).__name__}: {str(exc)[:200]}")
                ran += 1
                break
    return ran, failures


def smoke(env: str) -> None:
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, __file__, env], check=False, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": path}, timeout=1800)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, (
        f"snippet runner for {env} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    ran, failures = json.loads(lines[-1])
    assert ran, f"no snippet ran in env {env}"
    assert not failures, f"{len(failures)} of {ran} snippets fail:\n" + "\n".join(failures)


def test_numpy_snippets() -> None:
    """The oracle's rows need no framework: this one runs with the suite's own tests."""
    smoke("numpy")


# One test per framework environment; --framework-env selects on these literal markers.

@pytest.mark.framework("torch")
def test_torch_snippets() -> None:
    smoke("torch")


@pytest.mark.framework("tensorflow")
def test_tensorflow_snippets() -> None:
    smoke("tensorflow")


@pytest.mark.framework("keras_jax")
def test_keras_jax_snippets() -> None:
    smoke("keras_jax")


@pytest.mark.framework("keras_torch")
def test_keras_torch_snippets() -> None:
    smoke("keras_torch")


@pytest.mark.framework("mxnet")
def test_mxnet_snippets() -> None:
    smoke("mxnet")


@pytest.mark.framework("flax")
def test_flax_snippets() -> None:
    smoke("flax")


@pytest.mark.framework("onnx")
def test_onnx_snippets() -> None:
    smoke("onnx")


@pytest.mark.framework("paddle")
def test_paddle_snippets() -> None:
    smoke("paddle")


if __name__ == "__main__":  # the fresh interpreter smoke() starts
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps(_smoke_here(sys.argv[1])))
