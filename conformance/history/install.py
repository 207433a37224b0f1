"""One environment per release, built with uv; companions chosen by the resolver.

A release of Keras needs a TensorFlow that accepts it (Keras 3.0 does not resolve with
tensorflow-cpu 2.21, which wants keras>=3.12). Rather than keep a compatibility table,
each companion the environment pins (``tensorflow-cpu==2.21.0``) is handed to the
resolver as an upper bound (``tensorflow-cpu<=2.21.0``): it picks the newest companion
that resolves with the release, and what it picked is read back from the environment
and recorded as the release's pairing. An install that fails is an outcome with uv's
own explanation, never a skipped release.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from conformance.envsetup import SAME_FILES, clashes, overrides
from conformance.upgrade import normalize, pinned_name

_FREEZE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")
_NOISE = re.compile(r"^(Using |Resolved |Prepared |Installed |Uninstalled |Audited |"
                    r"Creating |Activate |warning: )")


@dataclass
class Installed:
    """What an install produced: the environment's python, or the reason it failed."""

    ok: bool
    python: str = ""
    reason: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # normalized name -> version
    seconds: float = 0.0


class Installer(Protocol):
    def install(self, venv: Path, requirements: Sequence[str]) -> Installed: ...

    def remove(self, venv: Path) -> None: ...


def companion_bounds(env_packages: Sequence[str], pins: Sequence[str]) -> tuple[str, ...]:
    """The environment's other pins as upper bounds: ``tensorflow-cpu==2.21.0`` becomes
    ``tensorflow-cpu<=2.21.0`` unless the release itself pins that package."""
    moving = {pinned_name(p) for p in pins}
    out = []
    for package in env_packages:
        name = pinned_name(package)
        if name in moving:
            continue
        out.append(package.replace("==", "<=", 1) if "==" in package else package)
    return tuple(out)


def companions(versions: dict[str, str], env_packages: Sequence[str],
               pins: Sequence[str]) -> dict[str, str]:
    """The versions the resolver chose for the environment's packages other than the pins
    (and for their twins that install the same files, see ``SAME_FILES``)."""
    moving = {pinned_name(p) for p in pins}
    names = [pinned_name(p) for p in env_packages]
    names += [SAME_FILES[n] for n in [*names, *moving] if n in SAME_FILES]
    return {name: versions[name] for name in names if name not in moving and name in versions}


def failure_reason(stderr: str, limit: int = 600) -> str:
    """uv's explanation in one line: its messages without progress chatter."""
    # uv draws its messages with box characters and a multiplication sign: strip them.
    lines = [ln.strip(" \u2570\u2500\u25b6\u00d7\u2502") for ln in stderr.splitlines()]
    text = " ".join(ln for ln in lines if ln and not _NOISE.match(ln))
    text = re.sub(r"\s+", " ", text).strip()
    return (text[:limit - 3] + "...") if len(text) > limit else text or "no message"


def parse_freeze(text: str) -> dict[str, str]:
    return {normalize(m.group(1)): m.group(2) for m in map(_FREEZE.match, text.splitlines())
            if m is not None}


class UvInstaller:
    """``uv venv`` + ``uv pip install`` (pip's package sources reach uv as ``UV_*``
    variables, set by the noxfile from ``pip config list``; see ``envsetup``)."""

    def __init__(self, uv: str, base_python: str, project: Path, timeout: float = 1800.0):
        self.uv, self.base_python, self.project, self.timeout = uv, base_python, project, timeout

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.uv, *args], capture_output=True, text=True,
                              timeout=self.timeout, check=False)

    def install(self, venv: Path, requirements: Sequence[str]) -> Installed:
        t0 = time.perf_counter()
        python = venv / "bin" / "python"
        try:
            made = self._run("venv", "-q", "--clear", "-p", self.base_python, str(venv))
            if made.returncode != 0:
                return Installed(False, reason=f"uv venv: {failure_reason(made.stderr)}",
                                 seconds=time.perf_counter() - t0)
            # One resolve: the release, its companions' bounds and the suite's own numpy.
            extra: list[str] = []
            if overrides(requirements):
                # Resolve with the twin first, so that its constraints still pair the rest
                # (tf-keras 2.16 wants tensorflow 2.16), then install those exact versions
                # with the twin overridden out.
                requirements, reason = self._resolved(python, venv, requirements)
                if reason:
                    return Installed(False, reason=reason, seconds=time.perf_counter() - t0)
                (venv / "overrides.txt").write_text("\n".join(overrides(requirements)) + "\n")
                extra = ["--override", str(venv / "overrides.txt")]
            done = self._run("pip", "install", "-q", "--python", str(python), *requirements,
                             *extra, "-e", str(self.project))
            if done.returncode != 0:
                return Installed(False, reason=failure_reason(done.stderr),
                                 seconds=time.perf_counter() - t0)
            versions = parse_freeze(self._run("pip", "freeze", "--python", str(python)).stdout)
            if clashes(versions):
                return Installed(False, reason=f"{', '.join(clashes(versions))} install the "
                                 f"same files", seconds=time.perf_counter() - t0)
        except subprocess.TimeoutExpired:
            return Installed(False, reason=f"install took more than {self.timeout:g} s",
                             seconds=time.perf_counter() - t0)
        return Installed(True, str(python), versions=versions, seconds=time.perf_counter() - t0)

    def _resolved(self, python: Path, venv: Path,
                  requirements: Sequence[str]) -> tuple[list[str], str]:
        """``requirements`` as the exact versions the resolver picks for them (with every
        dependency in, twins included), or the reason it cannot."""
        (venv / "requirements.in").write_text("\n".join([*requirements,
                                                         f"-e {self.project}"]) + "\n")
        done = self._run("pip", "compile", "-q", "--python", str(python),
                         str(venv / "requirements.in"))
        if done.returncode != 0:
            return [], failure_reason(done.stderr)
        chosen = parse_freeze(done.stdout)
        return [f"{pinned_name(r)}=={chosen[pinned_name(r)]}" if pinned_name(r) in chosen
                else r for r in requirements], ""

    def remove(self, venv: Path) -> None:
        shutil.rmtree(venv, ignore_errors=True)
