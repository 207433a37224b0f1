"""How nox builds environments: pip's package sources handed to uv, and install stamps.

uv reads its own ``UV_*`` settings, never pip's configuration files or ``PIP_*``
variables. A machine whose pip is configured with a find-links folder (the CPU build of
torch) or extra indexes would silently get other packages from uv (the CUDA torch from
PyPI), so the noxfile translates what ``pip config list`` reports into uv's settings.

The noxfile imports this module before any environment exists: standard library only.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# pip's configuration sections in increasing precedence: a command's own section overrides
# [global], and PIP_* environment variables (shown as ":env:") override both.
_SECTIONS = ("global", "install", ":env:")

# pip option -> (uv variable, separator uv expects between several values).
_LISTS: dict[str, tuple[str, str]] = {
    "find-links": ("UV_FIND_LINKS", ","),
    "extra-index-url": ("UV_EXTRA_INDEX_URL", " "),
    "constraint": ("UV_CONSTRAINT", " "),
    "trusted-host": ("UV_INSECURE_HOST", " "),
}
_SINGLE: dict[str, str] = {
    "index-url": "UV_INDEX_URL",
    "cert": "SSL_CERT_FILE",
    "client-cert": "SSL_CLIENT_CERT",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
}
_FLAGS: dict[str, tuple[str, str]] = {
    "no-index": ("UV_NO_INDEX", "1"),
    "pre": ("UV_PRERELEASE", "allow"),
}
_TRUE = {"1", "true", "yes", "on"}


def parse_pip_config(text: str) -> dict[str, str]:
    """The effective install options from ``pip config list`` output.

    Lines read ``section.key='value'`` (``:env:.find-links='/opt/wheels'`` for PIP_*
    variables); sections other than global, install and the environment are other
    commands' and are ignored.
    """
    ranked: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        name, sep, raw = line.strip().partition("=")
        section, dot, key = name.rpartition(".")
        if not sep or not dot or section not in _SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        rank = _SECTIONS.index(section)
        if key not in ranked or rank >= ranked[key][0]:
            ranked[key] = (rank, str(value))
    return {key: value for key, (_, value) in ranked.items()}


def uv_settings(pip: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The ``UV_*`` (and TLS) variables that give uv the package sources pip is given.

    A variable already set in ``environ`` is left alone: what the user set for uv wins.
    """
    out: dict[str, str] = {}
    for key, value in pip.items():
        if key in _LISTS:
            var, sep = _LISTS[key]
            if value.split():
                out[var] = sep.join(value.split())
        elif key in _SINGLE and value.strip():
            out[_SINGLE[key]] = value.strip()
        elif key in _FLAGS and value.strip().lower() in _TRUE:
            var, setting = _FLAGS[key]
            out[var] = setting
    # No UV_COMPILE_BYTECODE (pip's habit of compiling every module at install): the
    # noxfile lets Python write the bytecode of the modules a process imports (it clears
    # PYTHONDONTWRITEBYTECODE for its sessions), so the first import writes what later
    # ones read. Compiling all of TensorFlow, torch and JAX at install was most of the
    # environments' build time (TensorFlow's: 4.6 s against 1.1 s; 55 s for all eight).
    if "UV_EXTRA_INDEX_URL" in out or "UV_FIND_LINKS" in out:
        # pip takes the best version from all its sources; uv by default only looks at
        # the first index that has the package at all (here: no numpy 1.23.5 for MXNet).
        out["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    return {var: value for var, value in out.items() if var not in environ}


def pip_config_list(*pythons: str) -> str:
    """``pip config list`` of the first of ``pythons`` (default: this one, then ``python3``)
    that has pip; empty when none has. pip's configuration files and PIP_* variables are the
    same for every pip of the user, so any pip will do (nox may live where pip does not)."""
    for python in pythons or (sys.executable, "python3"):
        try:
            done = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                                  text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return done.stdout
    return ""


def install_stamp(args: Sequence[str], root: Path, settings: Mapping[str, str]) -> str:
    """What an install step depends on: its arguments, the project's declared
    dependencies (``pyproject.toml``, for ``.`` and ``.[extra]``) and the package sources."""
    pyproject = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    lines = [*args, f"pyproject.toml sha256={pyproject}",
             *(f"{var}={settings[var]}" for var in sorted(settings))]
    return "\n".join(lines) + "\n"


def is_current(stamp_file: Path, stamp: str) -> bool:
    """True when ``stamp_file`` records exactly ``stamp`` (the install can be skipped)."""
    try:
        return stamp_file.read_text(encoding="utf-8") == stamp
    except OSError:
        return False


# Distributions that install the same import package. tf-keras requires `tensorflow`, so an
# environment of tensorflow-cpu would also get a `tensorflow` wheel whose files overwrite
# tensorflow-cpu's (uv installs wheels in parallel, so which file wins varies): another
# release's (in a history, tensorflow-cpu 2.16.1 ran as 2.16.2), or another build's (2.19.1
# failed to import on undefined GPU symbols). The twin is overridden out of the
# resolution: the package the environment names provides the module.
SAME_FILES: dict[str, str] = {"tensorflow-cpu": "tensorflow"}


def overrides(requirements: Sequence[str]) -> list[str]:
    """uv overrides that keep each named package's twin out (a marker that never holds)."""
    from conformance.upgrade import pinned_name

    named = {pinned_name(r) for r in requirements}
    return [f'{twin} ; sys_platform == "never"' for package, twin in SAME_FILES.items()
            if package in named]


def clashes(versions: dict[str, str]) -> list[str]:
    """Twins installed together anyway: ``["tensorflow-cpu==2.16.1 with tensorflow==2.16.2"]``."""
    return [f"{a}=={versions[a]} with {b}=={versions[b]}" for a, b in SAME_FILES.items()
            if a in versions and b in versions]


def with_twins(requirements: Sequence[str]) -> list[str]:
    """The names of the packages among ``requirements`` that have a twin."""
    from conformance.upgrade import pinned_name

    return [n for n in map(pinned_name, requirements) if n in SAME_FILES]


def installed_twins(site_packages: Path, requirements: Sequence[str]) -> list[str]:
    """The twins (see ``SAME_FILES``) of ``requirements`` that an environment holds anyway,
    left there by an install without the overrides."""
    from conformance.upgrade import normalize

    twins = {SAME_FILES[name] for name in with_twins(requirements)}
    return sorted(twin for twin in twins
                  if any(normalize(p.name.split("-")[0]) == twin
                         for p in site_packages.glob("*.dist-info")))
