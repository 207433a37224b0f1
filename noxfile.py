"""nox sessions: one virtualenv per framework, the orchestration env, tests.

    nox -s conformance   build every framework env, run all cases, write reports/
    nox -s tests         the suite's own tests, lint and types, plus adapter tests
                         in each framework's env

The list of environments and their pins lives in conformance/environments.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from conformance.environments import ENVIRONMENTS  # noqa: E402

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["conformance"]

PYTHON = "3.11"
MARKERS = ROOT / ".nox" / "_envs"
CASES = "cases/generated"
RUNS = "reports/runs"
# The report env pins numpy so that case inputs are drawn by one known NumPy.
ORCHESTRATION = ["numpy==2.4.6", "pandas>=2.2"]
FRAMEWORK_ENVS = [e for e in ENVIRONMENTS if e.packages]


def _build(session: nox.Session, packages: tuple[str, ...]) -> None:
    session.install(*packages)
    session.install("--no-deps", "-e", ".")


def _make_build(name: str, packages: tuple[str, ...]) -> None:
    @nox.session(name=f"env-{name}", python=PYTHON)
    def build(session: nox.Session) -> None:
        """Build one framework environment; an install failure is recorded, not fatal."""
        MARKERS.mkdir(parents=True, exist_ok=True)
        marker = MARKERS / f"{name}.txt"
        try:
            _build(session, packages)
        except nox.command.CommandFailed as exc:
            marker.write_text(f"!install failed: {exc}")
            session.warn(f"{name}: install failed; its frameworks will be reported as ERROR")
            return
        marker.write_text(str(Path(session.bin) / "python"))


for _env in FRAMEWORK_ENVS:
    _make_build(_env.name, _env.packages)


@nox.session(python=PYTHON, requires=[f"env-{e.name}" for e in FRAMEWORK_ENVS])
def conformance(session: nox.Session) -> None:
    """Generate cases, run every framework env in parallel, merge, write reports."""
    session.install(*ORCHESTRATION)
    session.install("--no-deps", "-e", ".")
    session.run("conformance", "generate", "--out", CASES)
    args = ["--env", f"numpy={Path(session.bin) / 'python'}"]
    for env in FRAMEWORK_ENVS:
        marker = MARKERS / f"{env.name}.txt"
        target = marker.read_text().strip() if marker.exists() else "!not built"
        if target.startswith("!"):
            args += ["--unavailable", f"{env.name}={target[1:]}"]
        else:
            args += ["--env", f"{env.name}={target}"]
    session.run("conformance", "run", "--cases", CASES, "--out", RUNS, "--fresh", *args,
                *session.posargs)
    session.run("conformance", "report", "--runs", RUNS, "--cases", CASES, "--out", "reports")


def _make_framework_tests(name: str, packages: tuple[str, ...]) -> None:
    @nox.session(name=f"tests-{name}", python=PYTHON)
    def framework_tests(session: nox.Session) -> None:
        """Adapter tests against the real framework, in its own environment."""
        _build(session, packages)
        session.install("pytest>=8", "hypothesis>=6")
        session.run("pytest", "-m", "framework", "tests/frameworks", "--framework-env", name,
                    "-W", "ignore::DeprecationWarning", "-W", "ignore::FutureWarning",
                    "-W", "ignore::UserWarning", *session.posargs)


for _env in FRAMEWORK_ENVS:
    _make_framework_tests(_env.name, _env.packages)


@nox.session(python=PYTHON, requires=[f"tests-{e.name}" for e in FRAMEWORK_ENVS])
def tests(session: nox.Session) -> None:
    """The suite's own tests (no framework needed), then ruff and mypy."""
    session.install(*ORCHESTRATION)
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not framework", *session.posargs)
    session.run("ruff", "check", "conformance", "tests", "noxfile.py")
    session.run("mypy")
