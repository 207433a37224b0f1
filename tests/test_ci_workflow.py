"""The CI workflow (.github/workflows/conformance.yml): valid YAML, one shard job per
environment of conformance/environments.py, and nothing but the nox sessions a person runs.

The sessions are read from noxfile.py through nox itself (importing the noxfile registers
them), so a session renamed or removed there fails here, not in CI.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import nox.registry
import pytest
import yaml

from conformance.environments import ENVIRONMENTS

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
MATRIX = re.compile(r"\$\{\{\s*matrix\.env\s*\}\}")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and isinstance(doc.get("jobs"), dict), \
        f"{WORKFLOW}: not a workflow (no jobs mapping)"
    return doc


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sessions(noxfile: ModuleType) -> set[str]:
    return set(nox.registry.get())


def matrix_envs(workflow: dict[str, Any]) -> list[str]:
    envs = workflow["jobs"]["shard"]["strategy"]["matrix"]["env"]
    assert isinstance(envs, list), f"{WORKFLOW}: jobs.shard.strategy.matrix.env is not a list"
    return [str(e) for e in envs]


def test_the_workflow_triggers_on_push_and_pull_requests(workflow: dict[str, Any]) -> None:
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict) and {"push", "pull_request"} <= set(triggers), triggers


def test_matrix_is_the_list_of_environments(workflow: dict[str, Any]) -> None:
    assert matrix_envs(workflow) == [e.name for e in ENVIRONMENTS], (
        f"{WORKFLOW}: the shard matrix must be conformance/environments.py's ENVIRONMENTS "
        "names, in order")


def _commands(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    """Every `run:` line of every job, with `${{ matrix.env }}` expanded per environment."""
    out = []
    for name, job in workflow["jobs"].items():
        envs = matrix_envs(workflow) if "matrix" in job.get("strategy", {}) else [""]
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                if line.strip():
                    out += [(name, MATRIX.sub(env, line)) for env in envs]
    return out


def test_every_command_is_a_nox_session_of_the_noxfile(workflow: dict[str, Any],
                                                       sessions: set[str]) -> None:
    commands = _commands(workflow)
    assert {job for job, _ in commands} == {"shard", "merge"}, commands
    for job, line in commands:
        words = shlex.split(line)
        assert words[:2] == ["nox", "-s"] and len(words) >= 3, (
            f"{WORKFLOW} job {job}: `{line}` is not `nox -s <session>`: CI runs only what a "
            "person runs")
        assert words[2] in sessions, (f"{WORKFLOW} job {job}: `{line}` names session "
                                      f"{words[2]!r}, which noxfile.py does not define")
        assert "${{" not in line, f"{WORKFLOW} job {job}: `{line}` has an unexpanded expression"


def test_shards_upload_what_their_session_writes_and_merge_reads_it_all(
        workflow: dict[str, Any], noxfile: ModuleType) -> None:
    jobs = workflow["jobs"]
    uploads = [s["with"] for s in jobs["shard"]["steps"]
               if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    runs = next(u for u in uploads if str(u["path"]).rstrip("/").endswith("matrix.env }}"))
    assert MATRIX.sub("torch", str(runs["path"])).rstrip("/") == f"{noxfile.SHARDS}/torch", (
        f"{WORKFLOW}: the shard uploads {runs['path']}, but `nox -s shard-torch` writes "
        f"{noxfile.SHARDS}/torch")
    assert jobs["merge"]["needs"] == "shard"
    download = next(s["with"] for s in jobs["merge"]["steps"]
                    if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    prefix = MATRIX.sub("", str(runs["name"]))
    assert download["pattern"] == f"{prefix}*", (download, runs["name"])
    merge = next(line for job, line in _commands(workflow) if job == "merge")
    assert shlex.split(merge)[3:] == ["--", f"{download['path']}/*"], (
        f"{WORKFLOW}: merge must read every downloaded shard ({download['path']}/*): {merge}")
