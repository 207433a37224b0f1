"""nox sessions: one virtualenv per framework, the orchestration env, tests.

    nox -s conformance   build every framework env, run all cases, write reports/
    nox -s tests         the suite's own tests, lint and types, plus adapter tests
                         in each framework's env
    nox -s update_expectations   rewrite expectations/ from the latest reports
    nox -s upgrade -- keras==3.13.2   what would change if that pin moved
    nox -s history -- 'keras>=3.0'    every release in the range: when did behaviour change

The list of environments and their pins lives in conformance/environments.py.

Environments are built with uv where nox finds it (`pip install "nox[uv]"` brings it),
else with venv and pip. uv does not read pip's configuration, so the package sources pip
is configured with (find-links, indexes, constraints, certificate) are handed to uv as
its own settings (conformance/envsetup.py). An install step is skipped while the
environment's stamp says the same packages, project metadata and sources are installed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from conformance import envsetup  # noqa: E402
from conformance.environments import ENVIRONMENTS  # noqa: E402

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["conformance"]

PYTHON = "3.11"
MARKERS = ROOT / ".nox" / "_envs"
CASES = "cases/generated"
RUNS = "reports/runs"
EXPECTATIONS = "expectations"
UPGRADE_VENVS = ROOT / ".nox" / "_upgrade"
HISTORY_VENVS = ROOT / ".nox" / "_history"
# The report env pins numpy so that case inputs are drawn by one known NumPy; ml_dtypes
# rounds bfloat16 inputs there (and runs the oracle row's bfloat16 cases); rich draws the
# live progress lines of `conformance run` (framework envs never need it).
ORCHESTRATION = ["numpy==2.4.6", "pandas>=2.2", "ml_dtypes>=0.5", "rich>=13"]
FRAMEWORK_ENVS = [e for e in ENVIRONMENTS if e.packages]
STAMP = "conformance-installed.txt"  # inside each environment, beside bin/


@functools.cache
def _uv() -> str | None:
    """The uv binary nox uses, or None (then environments are venv + pip)."""
    has_uv, uv, _ = nox.virtualenv.find_uv()
    return uv if has_uv else None


@functools.cache
def _uv_settings() -> dict[str, str]:
    """pip's package sources as uv settings, exported once so every uv call sees them."""
    if _uv() is None:
        return {}
    pip = envsetup.parse_pip_config(envsetup.pip_config_list())
    settings = envsetup.uv_settings(pip, os.environ)
    os.environ.update(settings)
    return settings


def _install(session: nox.Session, *steps: tuple[str, ...]) -> None:
    """``session.install`` each step, unless this environment's stamp shows them installed."""
    stamp_file = Path(session.virtualenv.location) / STAMP
    stamp = envsetup.install_stamp([" ".join(step) for step in steps], ROOT, _uv_settings())
    if envsetup.is_current(stamp_file, stamp):
        session.log("packages unchanged since the last install: skipped")
        return
    stamp_file.unlink(missing_ok=True)
    for step in steps:
        session.install(*step)
    stamp_file.write_text(stamp, encoding="utf-8")


def _install_into(session: nox.Session, python: str, packages: tuple[str, ...]) -> None:
    """Install ``packages`` into another session's environment (stamped the same way)."""
    stamp_file = Path(python).parent.parent / f"extra-{STAMP}"
    stamp = envsetup.install_stamp(packages, ROOT, _uv_settings())
    if envsetup.is_current(stamp_file, stamp):
        session.log(f"{' '.join(packages)} unchanged since the last install: skipped")
        return
    uv = _uv()
    if uv is not None:
        session.run_install(uv, "pip", "install", "--python", python, *packages, external=True)
    else:
        session.run_install(python, "-m", "pip", "install", *packages, external=True)
    stamp_file.write_text(stamp, encoding="utf-8")


def _build(session: nox.Session, packages: tuple[str, ...]) -> None:
    # One resolve: the framework pins and the suite's own needs (numpy) must agree.
    _install(session, (*packages, "-e", "."))


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
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    session.run("conformance", "generate", "--out", CASES)
    args = ["--env", f"numpy={Path(session.bin) / 'python'}"]
    for env in FRAMEWORK_ENVS:
        marker = MARKERS / f"{env.name}.txt"
        target = marker.read_text().strip() if marker.exists() else "!not built"
        if target.startswith("!"):
            args += ["--unavailable", f"{env.name}={target[1:]}"]
        else:
            args += ["--env", f"{env.name}={target}"]
    fresh = [] if "--resume" in session.posargs else ["--fresh"]
    session.run("conformance", "run", "--cases", CASES, "--out", RUNS, *fresh, *args,
                *session.posargs)
    session.run("conformance", "report", "--runs", RUNS, "--cases", CASES, "--out", "reports")
    # Last, so the reports exist either way: any behaviour that differs from the
    # reviewed expectations (new, changed or gone) fails the session.
    if _status(session, "conformance", "gate", "--discrepancies", "reports/discrepancies.csv",
               "--expectations", EXPECTATIONS):
        session.error("behaviour differs from expectations/ (the gate's verdict above)")


def _status(session: nox.Session, *args: str) -> int:
    """Run a command of the session's env and return its exit status.

    For the commands whose exit status 1 is a verdict (the gate, the upgrade diff):
    the session then ends with one line that says so, not with nox's "Command ...
    failed with exit code 1" (which reads like a crash). Any other failure is one.
    """
    if session.run("python", "-c", "", log=False) is None:  # `nox --install-only`: run nothing
        return 0
    session.log(" ".join(args))
    env = {**os.environ, "PATH": os.pathsep.join([session.bin, os.environ.get("PATH", "")])}
    code = subprocess.run([str(Path(session.bin) / args[0]), *args[1:]], env=env,
                          check=False).returncode
    if code not in (0, 1):
        session.error(f"{args[0]} {args[1]} failed with exit code {code}")
    return code


@nox.session(name="update_expectations", python=PYTHON)
def update_expectations(session: nox.Session) -> None:
    """Rewrite expectations/ from the latest reports (run `nox -s conformance` first)."""
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    session.run("conformance", "expectations", "update", "--discrepancies",
                "reports/discrepancies.csv", "--expectations", EXPECTATIONS, *session.posargs)


@nox.session(python=PYTHON, requires=[f"env-{e.name}" for e in FRAMEWORK_ENVS])
def bench(session: nox.Session) -> None:
    """Suite vs bare-loop floor per framework, growth 1x/4x/16x, report and nox timings.

    `nox -s bench -- --scratch` also times `nox -s conformance` from scratch (slow).
    """
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    args = ["--env", f"numpy={Path(session.bin) / 'python'}"]
    for env in FRAMEWORK_ENVS:
        marker = MARKERS / f"{env.name}.txt"
        target = marker.read_text().strip() if marker.exists() else "!not built"
        args += ["--env", f"{env.name}={target}"]
    session.run("python", "-m", "conformance.bench", *args, "--nox", "--nox-python",
                sys.executable, *session.posargs)


def _venv(session: nox.Session, path: Path, packages: tuple[str, ...]) -> str:
    """A plain venv with ``packages`` and the suite, rebuilt only when the list changes."""
    python = path / "bin" / "python"
    stamp = path / "packages.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(packages):
        return str(python)
    uv = _uv()
    _uv_settings()  # pip's package sources, for uv
    try:  # one resolve, so the suite's numpy agrees with the framework's pins
        if uv is not None:
            session.run(uv, "venv", "-q", "--clear", "-p", str(Path(session.bin) / "python"),
                        str(path), external=True)
            session.run(uv, "pip", "install", "-q", "--python", str(python), *packages,
                        "-e", ".", external=True)
        else:
            session.run("python", "-m", "venv", "--clear", str(path))
            session.run(str(python), "-m", "pip", "install", "-q", *packages, "-e", ".",
                        external=True)
    except nox.command.CommandFailed:
        session.error(f"cannot install {' '.join(packages)}")
    stamp.write_text("\n".join(packages))
    return str(python)


@nox.session(python=PYTHON)
def upgrade(session: nox.Session) -> None:
    """Pre-upgrade check: nox -s upgrade -- <package>==<version> [more pins of that env].

    Builds the environment that holds the package with the new pin, runs its
    frameworks into reports/upgrade/runs/candidate, diffs against the current
    results (reports/runs, or a fresh run of the current env) and fails when
    any behaviour would change. The diff is in reports/upgrade/diff.{csv,html}.
    """
    from conformance.upgrade import candidate_packages, current_packages, environment_of_pins

    base = tuple(ORCHESTRATION)
    try:
        env = environment_of_pins(list(session.posargs), base)
    except ValueError as exc:
        session.error(str(exc))
    current = current_packages(env, base)
    candidate = candidate_packages(current, list(session.posargs))
    if candidate == current:
        session.error(f"{' '.join(session.posargs)} is already what {env.name} installs")
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    if not (ROOT / CASES / "manifest.jsonl").exists():
        session.run("conformance", "generate", "--out", CASES)
    slug = "-".join(p.replace("==", "-") for p in session.posargs)
    python = _venv(session, UPGRADE_VENVS / f"{env.name}-{slug}", candidate)
    out = "reports/upgrade/runs"
    session.run("conformance", "run", "--cases", CASES, "--out", f"{out}/candidate", "--fresh",
                "--env", f"{env.name}={python}")
    have = [p for fw in env.frameworks for p in (ROOT / RUNS).glob(f"{fw}-*")
            if "-unavailable-" not in p.name]
    baseline = RUNS
    if len(have) < len(env.frameworks):
        marker = MARKERS / f"{env.name}.txt"
        built = marker.read_text().strip() if marker.exists() else "!"
        if env.name == "numpy":
            built = str(Path(session.bin) / "python")
        elif built.startswith("!"):
            built = _venv(session, UPGRADE_VENVS / f"{env.name}-current", current)
        baseline = f"{out}/current"
        session.run("conformance", "run", "--cases", CASES, "--out", baseline, "--fresh",
                    "--env", f"{env.name}={built}")
    changed = _status(session, "conformance", "diff", baseline, f"{out}/candidate",
                      "--cases", CASES, "--out", "reports/upgrade")
    # Re-render the main report (quietly: the diff above is what to read) so that
    # reports/index.html carries the "Upgrade check" section; then the diff's exit
    # status (1: behaviour changed) decides the session, in one line.
    if (ROOT / RUNS).exists():
        session.run("conformance", "report", "--runs", RUNS, "--cases", CASES,
                    "--out", "reports", silent=True)
    if changed:
        session.error("behaviour changed (see the diff above, reports/upgrade/diff.csv "
                      "and the report's Upgrade check section)")


@nox.session(python=PYTHON)
def history(session: nox.Session) -> None:
    """Every release of a range, each in its own uv environment: when did behaviour change.

        nox -s history -- 'keras>=3.0'                  (quoted: the shell reads >)
        nox -s history -- 'tensorflow-cpu>=2.16' 'tf-keras>=2.16' [--latest-patch]

    Releases already run with the same pins, suite version and case set are kept
    (resume). Writes reports/history/ (behaviours.csv, changes.csv, releases.csv,
    index.html) and lists the change points; see conformance/history/.
    """
    if not session.posargs:
        session.error("name a range, e.g. nox -s history -- 'keras>=3.0'")
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    uv = _uv()
    _uv_settings()  # pip's package sources, for uv
    if not (ROOT / CASES / "manifest.jsonl").exists():
        session.run("conformance", "generate", "--out", CASES)
    # The session's defaults first, so that an option in posargs (--out, --cases) wins.
    session.run("conformance", "history", "--cases", CASES, "--out", "reports/history",
                "--envs", str(HISTORY_VENVS), "--python", str(Path(session.bin) / "python"),
                *(["--uv", uv] if uv else []),
                "--pip-python", sys.executable,  # nox's own: the session's env has no pip
                *session.posargs)
    if (ROOT / RUNS).exists():  # the main report's "Behaviour history" section
        session.run("conformance", "report", "--runs", RUNS, "--cases", CASES,
                    "--out", "reports", silent=True)


def _make_framework_tests(name: str) -> None:
    @nox.session(name=f"tests-{name}", python=False, requires=[f"env-{name}"])
    def framework_tests(session: nox.Session) -> None:
        """Adapter tests against the real framework, in the environment env-<name> built."""
        marker = MARKERS / f"{name}.txt"
        python = marker.read_text().strip() if marker.exists() else "!not built"
        if python.startswith("!"):
            session.error(f"{name}: no environment to test in ({python[1:]})")
        _install_into(session, python, ("pytest>=8", "hypothesis>=6"))
        session.run(python, "-m", "pytest", "-m", "framework", "tests/frameworks",
                    "--framework-env", name, "-W", "ignore::DeprecationWarning",
                    "-W", "ignore::FutureWarning", "-W", "ignore::UserWarning",
                    *session.posargs, external=True)


for _env in FRAMEWORK_ENVS:
    _make_framework_tests(_env.name)


@nox.session(python=PYTHON, requires=[f"tests-{e.name}" for e in FRAMEWORK_ENVS])
def tests(session: nox.Session) -> None:
    """The suite's own tests (no framework needed), then ruff and mypy."""
    _install(session, tuple(ORCHESTRATION), ("-e", ".[test]", "playwright"))
    session.run("pytest", "-m", "not framework", *session.posargs)
    session.run("ruff", "check", "conformance", "tests", "noxfile.py")
    session.run("mypy")


@nox.session(python=False)
def device(session: nox.Session) -> None:
    """On a lent GPU machine: its own Python runs torch and Flax on cpu and cuda from this
    working tree (nothing installed), and each run comes back as one archive in $OUT.

        nox -s device -- --python /usr/bin/python3.12 [--env torch] [--out DIR]

    Without nox there: PYTHONPATH=$PWD python3.12 -m conformance device --out "$OUT".
    At home: `conformance unpack $FILES --out reports/runs`, then `conformance report`.
    """
    args = list(session.posargs)
    python = args[args.index("--python") + 1] if "--python" in args else "python3"
    session.run(python, "-m", "conformance", "device", *(["--python", python]
                if "--python" not in args else []), *args,
                env={"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                 os.environ.get("PYTHONPATH")]))},
                external=True)
