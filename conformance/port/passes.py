"""Running the port's passes: one subprocess per environment, in that environment's Python.

The orchestrating process never imports a framework (as ``conformance.orchestrate`` does
for workers): it writes a plan, starts ``python -m conformance.port.worker`` with the
environment's interpreter, and reads the answers back. An environment that is missing,
crashes or hangs turns every item of its plan into an outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.environments import environment_of

TIMEOUT = 900.0


def default_python(env: str, root: Path = Path()) -> str | None:
    """The interpreter nox built for ``env`` (``.nox/env-<env>``), if there is one."""
    path = root / ".nox" / f"env-{env}" / "bin" / "python"
    return str(path) if path.exists() else None


def _env() -> dict[str, str]:
    """The passes run this very suite's code (the checkout the orchestrator imported),
    whatever copy an environment has installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return env


def _failed(items: Sequence[Mapping[str, Any]], why: str) -> list[dict[str, Any]]:
    return [{"key": i["key"], "case": i["case"], "status": "error", "error": why}
            for i in items]


def run_pass(mode: str, items: Sequence[Mapping[str, Any]], cases: Path, work: Path,
             pythons: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every item (each names its framework), grouped into one subprocess per environment."""
    by_env: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        by_env.setdefault(environment_of(item["framework"]).name, []).append(item)
    answers: list[dict[str, Any]] = []
    for env, group in sorted(by_env.items()):
        # The oracle needs nothing but NumPy: the orchestrating interpreter has it.
        python = pythons.get(env) or (sys.executable if env == "numpy" else None)
        if python is None:
            answers += _failed(group, f"no {env} environment (nox -s port builds it)")
            continue
        out = work / mode / env
        out.mkdir(parents=True, exist_ok=True)
        plan = out / "plan.json"
        plan.write_text(json.dumps({"mode": mode, "cases": str(cases.resolve()),
                                    "items": list(group)}))
        cmd = [python, "-m", "conformance.port.worker", str(plan), "--out", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                                  env=_env(), check=False)
        except subprocess.TimeoutExpired:
            answers += _failed(group, f"{env} pass ran past {TIMEOUT:.0f} s")
            continue
        except OSError as exc:
            answers += _failed(group, f"{env} pass did not start: {exc}")
            continue
        got = out / "answers.json"
        if proc.returncode != 0 or not got.exists():
            tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
            answers += _failed(group, f"{env} pass exited {proc.returncode}: {tail[0][:300]}")
            continue
        answers += json.loads(got.read_text())
    return answers
