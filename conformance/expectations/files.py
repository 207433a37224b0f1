"""Expectations files: reading, checking and writing ``expectations/<framework>.toml``.

Files are written by :func:`render_file` only (never by hand-formatted
templates), so their layout is stable and a review diff shows only values,
reasons and sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from conformance.expectations.versions import version_matches
from conformance.spec import BEHAVIOUR_BY_NAME, BEHAVIOURS, FRAMEWORKS

# The fields of an entry the gate compares with the measurement. ``documented`` and
# ``agrees`` are gated beside ``actual``: a documentation change that flips the
# verdict (a quote gone from the docstring, a new claim) needs review as much as a
# change of behaviour does.
GATED: tuple[str, ...] = ("actual", "documented", "agrees")
# Entries are written in the spec's behaviour order, so a file reads like the report.
BEHAVIOUR_ORDER = {b.name: i for i, b in enumerate(BEHAVIOURS)}
_KEYS = ("implementation", "behaviour", *GATED, "reason", "source")


@dataclass(frozen=True)
class Expectation:
    implementation: str
    behaviour: str
    actual: str
    reason: str = ""
    source: str = ""
    agrees: str = ""
    documented: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.implementation, self.behaviour)


@dataclass
class ExpectationFile:
    path: Path
    framework: str
    versions: str
    entries: dict[tuple[str, str], Expectation] = field(default_factory=dict)

    def covers(self, version: str) -> bool:
        return version_matches(version, self.versions)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be text")
    return value


def load_file(path: Path) -> ExpectationFile:
    """One file; ``ValueError`` naming the file and the entry on anything malformed.

    Files written before ``documented`` and ``agrees`` were gated may lack them:
    they read as empty, so the gate reports the difference and
    ``conformance expectations update`` fills them in.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    framework = _text(data, "framework", str(path))
    if framework not in FRAMEWORKS:
        raise ValueError(f"{path}: unknown framework {framework!r}")
    f = ExpectationFile(path, framework, _text(data, "versions", str(path)))
    version_matches("0", f.versions)  # reject an unreadable range now, naming the file
    for i, table in enumerate(data.get("expect", []), start=1):
        where = f"{path}: expect {i}"
        e = Expectation(**{k: _text(table, k, where) for k in _KEYS})
        if not e.implementation or e.behaviour not in BEHAVIOUR_BY_NAME:
            raise ValueError(f"{where}: needs an implementation and a known behaviour")
        if e.key in f.entries:
            raise ValueError(f"{where}: duplicate {e.implementation} {e.behaviour}")
        f.entries[e.key] = e
    return f


def load_dir(root: Path) -> list[ExpectationFile]:
    """Every ``*.toml`` under ``root``; a missing directory is an empty set."""
    if not root.exists():
        return []
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    return [load_file(p) for p in sorted(root.glob("*.toml"))]


def covering(files: list[ExpectationFile], framework: str,
             version: str) -> ExpectationFile | None:
    """The one file whose range covers ``version``; several is an error, none is None."""
    hits = [f for f in files if f.framework == framework and f.covers(version)]
    if len(hits) > 1:
        raise ValueError(f"{framework} {version}: covered by several files: "
                         f"{', '.join(str(f.path) for f in hits)}")
    return hits[0] if hits else None


def _q(text: str) -> str:
    # A JSON string with non-ASCII kept is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def render_file(f: ExpectationFile, measured_version: str = "") -> str:
    lines = [
        f"# Reviewed expectations for {f.framework}: the actual value of every behaviour row,",
        "# its documented value and whether the two agree.",
        "# `conformance gate` fails when a row is new or gone, or when actual, documented",
        "# or agrees changed; `conformance expectations update` rewrites this file from the",
        "# latest results, keeping reason and source where all three are unchanged.",
        "# Comments are not kept: write explanations in `reason`. An entry whose reason",
        "# starts with UNREVIEWED still needs a reviewer.",
        f"framework = {_q(f.framework)}",
        f"versions = {_q(f.versions)}",
    ]
    if measured_version:
        lines.append(f"measured = {_q(measured_version)}")
    entries = sorted(f.entries.values(),
                     key=lambda e: (e.implementation, BEHAVIOUR_ORDER.get(e.behaviour, 99)))
    for e in entries:
        lines += ["", "[[expect]]"]
        # An empty ``documented`` is left out: it reads back as "" (nothing documented),
        # and files stay as short as before it was gated.
        lines += [f"{k} = {_q(getattr(e, k))}" for k in _KEYS if k != "documented" or e.documented]
    return "\n".join(lines) + "\n"
