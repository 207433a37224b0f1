"""nox sessions: one virtualenv per framework, the orchestration env, tests.

    nox -s conformance   build every framework env, run all cases, write reports/
    nox -s tests         the suite's own tests, lint and types, plus adapter tests
                         in each framework's env
    nox -s update_expectations   rewrite expectations/ from the latest reports
    nox -s upgrade -- keras==3.13.2   what would change if that pin moved
    nox -s explore -- --budget 10m    bug hunt beyond the matrix -> reports/explore/
    nox -s shard-torch   one environment's run, for a machine of its own
    nox -s merge -- DIR...   reports and gate from shards made on several machines
    nox -s history -- 'keras>=3.0'    every release in the range: when did behaviour change
    nox -s port          every default pair ported and verified by running both frameworks

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
from conformance.environments import ENV_BY_NAME, ENVIRONMENTS  # noqa: E402

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


# Python writes the bytecode of what a session's processes import (into `.nox/` and the
# project's own `__pycache__/`, both ignored by git), even where PYTHONDONTWRITEBYTECODE is
# set, as on the reference machine: environments are built without compiling every module
# (`conformance/envsetup.py`), so the first import of a module writes what every later
# process reads. An empty value is "unset" to Python.
os.environ["PYTHONDONTWRITEBYTECODE"] = ""


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


def _override_args(folder: Path, packages: tuple[str, ...]) -> tuple[str, ...]:
    """``--override FILE`` keeping the pins' twins out (``envsetup.SAME_FILES``: tf-keras
    requires ``tensorflow``, whose wheel would overwrite ``tensorflow-cpu``'s files); nothing
    without uv (pip has no overrides) or without twins."""
    lines = envsetup.overrides(packages)
    if not lines or _uv() is None:
        return ()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overrides.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ("--override", str(path))


def _drop_twins(session: nox.Session, python: Path, packages: tuple[str, ...],
                override: tuple[str, ...]) -> None:
    """An environment built before the overrides holds both twins, the files of whichever
    wheel was written last: remove the twin, then write the pinned package's files again."""
    site = python.parent.parent / "lib" / f"python{PYTHON}" / "site-packages"
    twins = envsetup.installed_twins(site, packages)
    uv = _uv()
    if not twins or uv is None:
        return
    session.log(f"removing {', '.join(twins)}: its files overwrote the pinned package's")
    session.run_install(uv, "pip", "uninstall", "--python", str(python), *twins,
                        external=True)
    again = [arg for name in envsetup.with_twins(packages)
             for arg in ("--reinstall-package", name)]
    session.run_install(uv, "pip", "install", "--python", str(python), *again, *packages,
                        *override, "-e", ".", external=True)


def _build(session: nox.Session, packages: tuple[str, ...]) -> None:
    # One resolve: the framework pins and the suite's own needs (numpy) must agree.
    override = _override_args(Path(session.virtualenv.location), packages)
    _install(session, (*packages, *override, "-e", "."))
    _drop_twins(session, Path(session.bin) / "python", packages, override)


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


SHARDS = "reports/shards"


def _make_shard(name: str) -> None:
    framework_env = bool(ENV_BY_NAME[name].packages)

    @nox.session(name=f"shard-{name}", python=PYTHON,
                 requires=[f"env-{name}"] if framework_env else [])
    def shard(session: nox.Session) -> None:
        """One environment's run, for a machine of its own: reports/shards/<env>/.

        Builds only that environment. Merge the shards' run directories, wherever
        they were made, with `nox -s merge -- DIR...` (the CI workflow does this).
        """
        _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
        session.run("conformance", "generate", "--out", CASES)
        marker = MARKERS / f"{name}.txt"
        target = (str(Path(session.bin) / "python") if not framework_env
                  else marker.read_text().strip() if marker.exists() else "!not built")
        env = (["--unavailable", f"{name}={target[1:]}"] if target.startswith("!")
               else ["--env", f"{name}={target}"])
        fresh = [] if "--resume" in session.posargs else ["--fresh"]
        session.run("conformance", "run", "--cases", CASES, "--out", f"{SHARDS}/{name}",
                    *fresh, *env, *session.posargs)


for _env in ENVIRONMENTS:
    _make_shard(_env.name)


@nox.session(python=PYTHON)
def merge(session: nox.Session) -> None:
    """Reports and gate from runs made on several machines: nox -s merge -- DIR...

    Each DIR holds run directories (a shard's reports/shards/<env>/, or one
    downloaded from CI); the default is every reports/shards/<env>/. Refused, in
    one line, when the runs ran other cases or another suite version than here.
    """
    dirs = list(session.posargs) or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / SHARDS).glob("*")
        if any(p.glob("*/results.jsonl")))
    if not dirs:
        session.error(f"no run directories: pass them (nox -s merge -- DIR...) or make "
                      f"{SHARDS}/<env> with nox -s shard-<env>")
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    session.run("conformance", "generate", "--out", CASES)
    session.run("conformance", "report", "--runs", *dirs, "--cases", CASES, "--out", "reports")
    if _status(session, "conformance", "gate", "--discrepancies", "reports/discrepancies.csv",
               "--expectations", EXPECTATIONS, "--runs", *dirs):
        session.error("behaviour differs from expectations/ (the gate's verdict above)")


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


@nox.session(python=PYTHON, requires=[f"env-{e.name}" for e in FRAMEWORK_ENVS])
def explore(session: nox.Session) -> None:
    """Bug hunt beyond the matrix: nox -s explore -- --budget 10m [--framework torch] [--seed N]

    Needs the measured conventions of `nox -s conformance` (reports/cards/);
    writes reports/explore/ (conformance/explore/).
    """
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    args = ["--env", f"numpy={Path(session.bin) / 'python'}"]
    for env in FRAMEWORK_ENVS:
        marker = MARKERS / f"{env.name}.txt"
        target = marker.read_text().strip() if marker.exists() else "!not built"
        args += ["--env", f"{env.name}={target}"]
    session.run("python", "-m", "conformance.explore", *args, *session.posargs)


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
                        *_override_args(path, packages), "-e", ".", external=True)
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


# --- conformance port: verified ports between frameworks (conformance/port/) -----------
# The environments of the default pairs (conformance/port/cli.py, DEFAULTS).
PORT_ENVS = ("torch", "tensorflow", "mxnet", "flax", "paddle", "keras_jax", "keras_torch")
MODEL_PORT_ENVS = ("torch", "tensorflow", "mxnet")  # the real-model test's


def _built(session: nox.Session, names: tuple[str, ...]) -> dict[str, str]:
    """Interpreters of the environments env-<name> built; one that failed is left out
    (the port then reports its pairs as not run, with the reason)."""
    out = {}
    for name in names:
        marker = MARKERS / f"{name}.txt"
        python = marker.read_text().strip() if marker.exists() else "!not built"
        if python.startswith("!"):
            session.warn(f"{name}: no environment ({python[1:]})")
        else:
            out[name] = python
    return out


@nox.session(python=PYTHON, requires=[f"env-{e}" for e in PORT_ENVS])
def port(session: nox.Session) -> None:
    """Every default pair ported and verified by running both frameworks, into
    reports/ports/ (the HTML porting table reads it). Needs reports/runs: the measured
    conventions come from `nox -s conformance`."""
    if not (ROOT / RUNS).is_dir():
        session.error(f"{RUNS} is missing: run `nox -s conformance` first")
    _install(session, tuple(ORCHESTRATION), ("--no-deps", "-e", "."))
    envs = [f"--env={k}={v}" for k, v in _built(session, PORT_ENVS).items()]
    session.run("conformance", "port", "--defaults", "--runs", RUNS, "--cases", CASES,
                "--out", "reports/ports", *envs, *session.posargs)
    # The HTML porting table reads reports/ports/: write the page again with the verdicts.
    session.run("conformance", "report", "--runs", RUNS, "--cases", CASES, "--out", "reports")


@nox.session(name="tests-port", python=PYTHON,
             requires=[f"env-{e}" for e in MODEL_PORT_ENVS])
def tests_port(session: nox.Session) -> None:
    """A real CNN trained in PyTorch, ported to Keras 3, tf_keras and gluon; predictions
    compared in each target's environment (tests/frameworks/test_port_model.py)."""
    _install(session, tuple(ORCHESTRATION), ("-e", ".[test]"))
    env = {f"CONFORMANCE_ENV_{k.upper()}": v
           for k, v in _built(session, MODEL_PORT_ENVS).items()}
    session.run("pytest", "-m", "framework", "tests/frameworks", "--framework-env", "port",
                *session.posargs, env=env)


@nox.session(python=PYTHON, requires=[*(f"tests-{e.name}" for e in FRAMEWORK_ENVS),
                                      "tests-port"])
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
