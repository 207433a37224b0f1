"""What a history run was asked for, and which releases of it the package index has.

``keras>=3.0`` is a range; ``keras==3.1.0 keras==3.2.1`` a list (exact pins of one
package are a union, any other clauses must all hold); ``tensorflow-cpu>=2.16
tf-keras>=2.16`` names packages that move together: the first package's releases are
the timeline, and each is paired with the newest release of every other named package
from the same minor series (``2.16.2`` with ``tf-keras 2.16.0``).

Versions are compared here with a small PEP 440 subset (release numbers and ``.postN``;
pre-releases and dev releases are never part of a history): nox loads this module
before any environment exists, so ``packaging`` may not be importable.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from conformance.upgrade import normalize

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")
_CLAUSE = re.compile(r"^\s*(===|==|!=|~=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.*+!-]*)\s*$")
UNPAIRED, NO_FILES = "unpaired", "no_files_for_python"  # statuses of releases not run
# Pythons whose listings reveal releases that have no files for the Python of the history.
OTHER_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
_VERSION = re.compile(r"^(\d+(?:\.\d+)*)(?:\.?post(\d+))?$")
VersionKey = tuple[tuple[int, ...], int]


def version_key(text: str) -> VersionKey | None:
    """A sortable key for a final release (``2.15.0.post1`` after ``2.15.0``); ``None``
    for a pre-release, a dev release or anything this subset cannot read."""
    m = _VERSION.match(text.strip().lower().split("+")[0])
    if m is None:
        return None
    release = tuple(int(p) for p in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:  # 3.0 == 3.0.0
        release = release[:-1]
    return release, int(m.group(2)) if m.group(2) else -1


def series(text: str) -> tuple[int, ...]:
    """The minor series a release belongs to: ``(2, 16)`` for ``2.16.2``."""
    return tuple(int(p) for p in [*text.split("."), "0"][:2] if p.isdigit())


@dataclass(frozen=True)
class Requirement:
    name: str  # PEP 503 normalized
    clauses: tuple[tuple[str, str], ...]  # (operator, version); empty: every release

    @property
    def exact(self) -> str | None:
        """The version of a bare ``==`` pin (no wildcard), else ``None``."""
        if len(self.clauses) == 1 and self.clauses[0][0] in ("==", "===") \
                and "*" not in self.clauses[0][1]:
            return self.clauses[0][1]
        return None

    def __str__(self) -> str:
        return self.name + ",".join(op + v for op, v in self.clauses)


def parse_requirement(text: str) -> Requirement:
    m = _REQ.match(text)
    if m is None:
        raise ValueError(f"{text!r}: expected <package>[<op><version>,...], e.g. 'keras>=3.0'")
    clauses = []
    for part in filter(str.strip, m.group(2).split(",")):
        c = _CLAUSE.match(part)
        if c is None or (c.group(1) != "==" and "*" in c.group(2)) or (
                "*" not in c.group(2) and version_key(c.group(2)) is None):
            raise ValueError(f"{text!r}: cannot read {part.strip()!r} (use ==, !=, >=, <=, "
                             f">, <, ~= with a release number, e.g. 'keras>=3.0,<3.5')")
        clauses.append((c.group(1), c.group(2)))
    return Requirement(normalize(m.group(1)), tuple(clauses))


def _holds(op: str, bound: str, version: str) -> bool:
    if op == "==" and bound.endswith(".*"):
        return (version + ".").startswith(bound[:-1])
    if op == "===":
        return version == bound
    v, b = version_key(version), version_key(bound)
    assert v is not None and b is not None
    if op == "~=":  # ~=3.1.2 means >=3.1.2, ==3.1.*
        prefix = bound.split(".")[:-1]
        return v >= b and version.split(".")[:len(prefix)] == prefix
    return {"==": v == b, "!=": v != b, ">=": v >= b, "<=": v <= b, ">": v > b,
            "<": v < b}[op]


def matches(req: Requirement, version: str) -> bool:
    return version_key(version) is not None and all(_holds(op, b, version)
                                                    for op, b in req.clauses)


@dataclass(frozen=True)
class Request:
    """The packages of a history in order (the first is the timeline) and their clauses."""

    packages: tuple[str, ...]
    requirements: Mapping[str, tuple[Requirement, ...]]

    def allows(self, package: str, version: str) -> bool:
        reqs = self.requirements[package]
        exact = [r.exact for r in reqs if r.exact is not None]
        ranges = [r for r in reqs if r.exact is None]
        if exact and version_key(version) not in {version_key(x) for x in exact}:
            return False
        return all(matches(r, version) for r in ranges) and version_key(version) is not None


def parse_request(args: Sequence[str]) -> Request:
    if not args:
        raise ValueError("name at least one package range, e.g. 'keras>=3.0' (quoted: the "
                         "shell reads > as a redirection)")
    reqs = [parse_requirement(a) for a in args]
    packages = tuple(dict.fromkeys(r.name for r in reqs))
    return Request(packages, {p: tuple(r for r in reqs if r.name == p) for p in packages})


@dataclass(frozen=True)
class Release:
    """One point of the timeline: the pins that move together. ``skip`` says why a release
    the index lists is not run here (``skip_status``: ``unpaired``, a release of the first
    package with no partner; ``no_files_for_python``, files only for other Pythons): it is
    recorded with that reason, not dropped."""

    package: str
    version: str
    pins: tuple[str, ...]  # "name==version", the first package's first
    skip: str = ""
    skip_status: str = ""


def _newest(versions: Sequence[str]) -> str:
    return max(versions, key=lambda w: version_key(w) or ((), 0))


def select(request: Request, available: Mapping[str, Sequence[str]], *,
           latest_patch: bool = False,
           elsewhere: Mapping[str, Sequence[str]] | None = None) -> list[Release]:
    """The releases to run, oldest first, each with its partners from the same series.

    ``elsewhere`` maps releases of the first package that the index has only for other
    Pythons to those Pythons' names: they are listed too, to be recorded as such.
    """
    primary = request.packages[0]
    other = {v: pys for v, pys in (elsewhere or {}).items()
             if v not in available.get(primary, ())}
    versions = sorted((v for v in [*available.get(primary, ()), *other]
                       if request.allows(primary, v)),
                      key=lambda v: version_key(v) or ((), 0))
    if latest_patch:
        newest = {series(v): v for v in versions}  # sorted: the last of a series wins
        versions = [v for v in versions if newest[series(v)] == v]
    out = []
    for v in versions:
        if v in other:
            out.append(Release(primary, v, (f"{primary}=={v}",),
                               f"the index has files of {primary} {v} only for Python "
                               f"{', '.join(other[v])}", NO_FILES))
            continue
        pins, missing = [f"{primary}=={v}"], []
        for name in request.packages[1:]:
            mates = [w for w in available.get(name, ())
                     if request.allows(name, w) and series(w) == series(v)]
            if mates:
                pins.append(f"{name}=={_newest(mates)}")
            else:
                missing.append(f"no {name} release of the {'.'.join(map(str, series(v)))} "
                               f"series matches {' '.join(map(str, request.requirements[name]))}")
        out.append(Release(primary, v, tuple(pins), "; ".join(missing),
                           UNPAIRED if missing else ""))
    return out


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def other_pythons(package: str, python_version: str, *, pythons: Sequence[str] = (),
                  run: Runner = _run) -> dict[str, list[str]]:
    """Releases the index has for other Pythons but not for ``python_version``, each with
    those Pythons: what a listing for one Python alone would silently leave out."""
    mine = set(list_versions(package, python_version, pythons=pythons, run=run))
    out: dict[str, list[str]] = {}
    for py in OTHER_PYTHONS:
        if py == python_version:
            continue
        try:
            found = list_versions(package, py, pythons=pythons, run=run)
        except ValueError:  # nothing for that Python
            continue
        for v in found:
            if v not in mine:
                out.setdefault(v, []).append(py)
    return out


def list_versions(package: str, python_version: str, *, pythons: Sequence[str] = (),
                  run: Runner = _run) -> list[str]:
    """The releases of ``package`` with files for ``python_version`` on the indexes pip is
    configured with (``pip index versions``: pip's own sources, mirrors and find-links).

    Any pip will do (the session's uv environment has none): the first of ``pythons``
    that answers. A package the index does not know is an error, never an empty history.
    """
    errors = []
    for python in pythons or (sys.executable, "python3"):
        try:
            done = run([python, "-m", "pip", "index", "versions", package,
                        "--python-version", python_version, "--disable-pip-version-check"])
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(f"{python}: {exc}")
            continue
        for line in done.stdout.splitlines():
            if line.startswith("Available versions:"):
                return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
        last = [ln for ln in (done.stderr or "").splitlines() if ln.strip()]
        if done.returncode != 0 and last and "No module named pip" not in last[-1]:
            raise ValueError(f"{package}: the package index lists no release for Python "
                             f"{python_version} ({last[-1].strip()})")
        errors.append(f"{python}: {last[-1].strip() if last else 'no answer'}")
    raise ValueError(f"{package}: cannot list releases ({'; '.join(errors)})")
