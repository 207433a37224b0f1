"""Running a history: outcomes recorded with their reasons, pairing kept, resume."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.environments import ENV_BY_NAME
from conformance.history import runner
from conformance.history.install import Installed
from conformance.history.request import Release
from conformance.history.runner import Plan, frameworks_for, run_history
from conformance.history.store import load
from conformance.orchestrate import FrameworkRun


class FakeInstaller:
    """Installs everything but the versions it is told are broken."""

    def __init__(self, broken: dict[str, str]) -> None:
        self.broken = broken
        self.asked: list[tuple[str, ...]] = []
        self.removed: list[Path] = []

    def install(self, venv: Path, requirements: Sequence[str]) -> Installed:
        self.asked.append(tuple(requirements))
        for pin, reason in self.broken.items():
            if pin in requirements:
                return Installed(False, reason=reason, seconds=1.0)
        return Installed(True, sys.executable, versions={"keras": "3.0.0",
                                                         "tensorflow-cpu": "2.16.2",
                                                         "tf-keras": "2.16.0"}, seconds=2.0)

    def remove(self, venv: Path) -> None:
        self.removed.append(venv)


def plan(tmp_path: Path, case_set: str = "cases-1") -> Plan:
    return Plan(ENV_BY_NAME["tensorflow"], ("keras",), "3.11", "0.1.0", case_set,
                tmp_path / "cases", tmp_path / "history", tmp_path / "envs", jobs=2)


@pytest.fixture
def fake_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``run_all`` stand-in: keras 3.3.0 fails to import; records which pythons ran."""
    ran: list[str] = []

    def run_all(workers: list[tuple[str, str]], cases: Path, out: Path, *args: Any,
                **kwargs: Any) -> list[FrameworkRun]:
        ran.append(str(out))
        error = "ImportError: cannot import keras" if "keras-3.3.0" in str(out) else ""
        return [FrameworkRun(fw, py, import_error=error) for fw, py in workers]

    monkeypatch.setattr("conformance.orchestrate.run_all", run_all)
    return ran


def analyze(runs_dir: Path) -> list[dict[str, str]]:
    return [{"framework": "keras", "implementation": "x", "behaviour": "gamma_applied",
             "value": "yes", "evidence": ""}]


RELEASES = [Release("keras", v, (f"keras=={v}",)) for v in ("3.0.0", "3.1.0", "3.3.0")]


def test_every_outcome_is_recorded_with_its_reason(tmp_path: Path, fake_runs: list[str]) -> None:
    installer = FakeInstaller({"keras==3.1.0": "No solution found: tensorflow-cpu needs ..."})
    unpaired = Release("keras", "3.4.0", ("keras==3.4.0",), "no tf-keras release of the 3.4 "
                       "series")
    old = Release("keras", "3.5.0", ("keras==3.5.0",), "files only for Python 3.9",
                  "no_files_for_python")
    entries = run_history(plan(tmp_path), [*RELEASES, unpaired, old], installer, analyze,
                          log=lambda line: None)
    got = [(e.version, e.status, e.reason) for e in entries]
    assert got == [("3.0.0", "ok", ""),
                   ("3.1.0", "install_failed", "No solution found: tensorflow-cpu needs ..."),
                   ("3.3.0", "import_failed", "keras: ImportError: cannot import keras"),
                   ("3.4.0", "unpaired", "no tf-keras release of the 3.4 series"),
                   ("3.5.0", "no_files_for_python", "files only for Python 3.9")]
    for e in entries:
        stored = load(tmp_path / "history", e.pins)
        assert stored is not None and stored.status == e.status, f"{e.version} not stored"
    ok = entries[0]
    assert ok.bounds == ("tensorflow-cpu<=2.21.0", "tf-keras<=2.21.0")
    assert ok.companions == {"tensorflow-cpu": "2.16.2", "tf-keras": "2.16.0"}
    assert ok.behaviours and ok.behaviours[0]["value"] == "yes"
    assert installer.asked[0] == ("keras==3.0.0", "tensorflow-cpu<=2.21.0", "tf-keras<=2.21.0")
    assert len(installer.removed) == 3, "environments are removed after their run"


def test_resume_runs_only_what_has_no_entry_with_this_key(tmp_path: Path,
                                                          fake_runs: list[str]) -> None:
    run_history(plan(tmp_path), RELEASES[:2], FakeInstaller({}), analyze, log=lambda s: None)
    assert len(fake_runs) == 2
    installer = FakeInstaller({})
    lines: list[str] = []
    entries = run_history(plan(tmp_path), RELEASES, installer, analyze, log=lines.append)
    assert installer.asked == [("keras==3.3.0", "tensorflow-cpu<=2.21.0", "tf-keras<=2.21.0")]
    assert [e.version for e in entries] == ["3.0.0", "3.1.0", "3.3.0"]
    assert "keras 3.0.0: already run with this key (ok): kept" in lines
    run_history(plan(tmp_path, case_set="cases-2"), RELEASES[:1], installer, analyze,
                log=lambda s: None)
    assert len(installer.asked) == 2, "another case set is another key: run again"


def test_a_crash_of_one_release_is_recorded_and_the_rest_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_runs: list[str]) -> None:
    def boom(runs_dir: Path) -> list[dict[str, str]]:
        if "3.0.0" in str(runs_dir):
            raise RuntimeError("analysis failed")
        return analyze(runs_dir)

    entries = run_history(plan(tmp_path), RELEASES[:2], FakeInstaller({}), boom,
                          log=lambda s: None)
    assert [(e.status, e.reason) for e in entries] == [
        ("run_failed", "RuntimeError: analysis failed"), ("ok", "")]


def test_frameworks_follow_the_packages_named() -> None:
    tf = ENV_BY_NAME["tensorflow"]
    assert frameworks_for(("keras",), tf) == ("keras",)
    assert frameworks_for(("tensorflow-cpu", "tf-keras"), tf) == ("tf_keras", "tensorflow")
    assert frameworks_for(("numpy",), ENV_BY_NAME["mxnet"]) == ("mxnet",)
    assert runner.frameworks_for(("torch",), ENV_BY_NAME["torch"]) == ("torch",)


def test_a_real_release_runs_through_the_orchestrator_and_the_analysis(
        tmp_path: Path) -> None:
    """No stand-in but the installer: the NumPy oracle row plays the release."""
    from conformance.cases import generate, materialize
    from conformance.cases.store import case_set

    cases_dir = tmp_path / "cases"
    cases = {c.id: c for c in materialize(generate(["bn_momentum"]), cases_dir)}
    numpy_plan = Plan(ENV_BY_NAME["numpy"], ("numpy",), "3.11", "0.1.0", case_set(cases_dir),
                      cases_dir, tmp_path / "history", tmp_path / "envs", jobs=1)
    (entry,) = run_history(numpy_plan, [Release("numpy", "2.4.6", ("numpy==2.4.6",))],
                           FakeInstaller({}), runner.analyzer(cases, cases_dir),
                           log=lambda s: None)
    assert entry.status == "ok", entry.reason
    values = {(b["implementation"], b["behaviour"]): b["value"] for b in entry.behaviours}
    impl = "conformance.oracle.batchnorm.sequence"
    assert values[(impl, "momentum_convention")] == "weight_on_new", values
    assert (tmp_path / "history" / "releases" / "numpy-2.4.6" / "runs").is_dir()


def test_a_run_of_another_version_than_the_pin_is_caught(tmp_path: Path) -> None:
    from conformance.history.runner import wrong_version

    run_dir = tmp_path / "tensorflow-2.16.2-py3.11-linux"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text('{"kind": "header", "framework_version": "2.16.2"}\n')
    pins = ("tensorflow-cpu==2.16.1", "tf-keras==2.16.0")
    assert wrong_version("tensorflow", run_dir, pins) == (
        "tensorflow reports version 2.16.2, not the release's tensorflow-cpu==2.16.1")
    assert wrong_version("tensorflow", run_dir, ("tensorflow-cpu==2.16.2",)) == ""
    assert wrong_version("keras", run_dir, pins) == "", "keras is not pinned here"
