"""Reviewed expectations: the actual value of every measured behaviour, and the gate on them.

One TOML file per framework (and version range) under ``expectations/``::

    framework = "torch"
    versions = "==2.13.0"          # comma-separated clauses: ==, !=, >=, <=, >, <, ==X.Y.*

    [[expect]]
    implementation = "torch.nn.BatchNorm1d"
    behaviour = "batch_size_one_training"
    actual = "error"
    agrees = "undocumented"        # informational: the documentation state when reviewed
    reason = "raises ValueError: a batch of one has no variance"
    source = "https://..."

The key is (framework, implementation, behaviour); the gate compares only ``actual``.
Like strict xfails in array-api-tests, the gate fails on a new behaviour row, a
changed value and a vanished row alike: each one means the table the project
publishes no longer matches what was reviewed. Files are written by
:func:`update` (never by hand-formatted templates), so their layout is stable
and a review diff shows only values, reasons and sources.
"""

from __future__ import annotations

import csv
import difflib
import enum
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

from conformance.spec import BEHAVIOUR_BY_NAME, BEHAVIOURS, DISCREPANCY_COLUMNS, FRAMEWORKS

UNREVIEWED = "UNREVIEWED"
_UNCOVERED = "no expectations file covers"
_CLAUSE = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.*+-]*)\s*$")
_ORDER = {b.name: i for i, b in enumerate(BEHAVIOURS)}


class Outcome(str, enum.Enum):
    OK = "ok"
    NEW = "new"  # measured, no expectation
    CHANGED = "changed"  # measured value differs from the expectation
    GONE = "gone"  # expected, no longer measured
    UNAVAILABLE = "unavailable"  # the framework's run is ERROR (environment not built)


# --- versions ------------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    """Numeric release part: ``2.13.0+cpu`` -> (2, 13, 0); pre-release tags are ignored."""
    parts = []
    for piece in version.split("+", maxsplit=1)[0].split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _pad(a: tuple[int, ...], n: int) -> tuple[int, ...]:
    return a + (0,) * (n - len(a))


def version_matches(version: str, spec: str) -> bool:
    """Whether ``version`` satisfies ``spec`` (``">=2.13,<2.14"``, ``"==1.9.*"``)."""
    if not spec.strip():
        return True
    v = _release(version)
    for clause in spec.split(","):
        m = _CLAUSE.match(clause)
        if m is None:
            raise ValueError(f"versions {spec!r}: cannot read clause {clause.strip()!r}")
        op, text = m.groups()
        if text.endswith(".*"):
            prefix = _release(text[:-2])
            hit = v[:len(prefix)] == prefix
            if (op == "==") != hit:
                return False
            continue
        w = _release(text)
        n = max(len(v), len(w))
        a, b = _pad(v, n), _pad(w, n)
        ok = {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b,
              "<": a < b}[op]
        if not ok:
            return False
    return True


# --- files ---------------------------------------------------------------------------


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
        e = Expectation(**{k: _text(table, k, where) for k in
                           ("implementation", "behaviour", "actual", "reason", "source",
                            "agrees", "documented")})
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
        f"# Reviewed expectations for {f.framework}: the actual value of every behaviour row.",
        "# `conformance gate` fails when a measurement is new, changed or gone;",
        "# `conformance expectations update` rewrites this file from the latest results,",
        "# keeping reason and source where the value is unchanged. Comments are not kept:",
        "# write explanations in `reason`. An entry whose reason starts with UNREVIEWED",
        "# still needs a reviewer.",
        f"framework = {_q(f.framework)}",
        f"versions = {_q(f.versions)}",
    ]
    if measured_version:
        lines.append(f"measured = {_q(measured_version)}")
    entries = sorted(f.entries.values(),
                     key=lambda e: (e.implementation, _ORDER.get(e.behaviour, 99)))
    for e in entries:
        lines += ["", "[[expect]]", f"implementation = {_q(e.implementation)}",
                  f"behaviour = {_q(e.behaviour)}", f"actual = {_q(e.actual)}"]
        if e.documented:
            lines.append(f"documented = {_q(e.documented)}")
        lines += [f"agrees = {_q(e.agrees)}", f"reason = {_q(e.reason)}",
                  f"source = {_q(e.source)}"]
    return "\n".join(lines) + "\n"


# --- measurements --------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One behaviour row of the discrepancy table, plus the source of its documentation."""

    framework: str
    version: str
    implementation: str
    behaviour: str
    actual: str
    agrees: str
    documented: str = ""
    doc_source: str = ""


@dataclass
class Measurement:
    rows: list[Measured]
    unavailable: dict[str, str] = field(default_factory=dict)  # framework -> reason


def read_discrepancies(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise ValueError(f"{path}: no discrepancy table (run `conformance report` first)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(DISCREPANCY_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a discrepancy table "
                             f"(lacks {', '.join(sorted(missing))})")
        return list(reader)


def measure(discrepancies: Path, runs: Path | None = None) -> Measurement:
    """The behaviour rows, with unavailable frameworks and doc sources taken from ``runs``."""
    sources: dict[tuple[str, str, str], str] = {}
    unavailable: dict[str, str] = {}
    if runs is not None:
        from conformance.compare.analyze import documented_for
        from conformance.compare.load import load_runs

        loaded = load_runs(runs)
        ran = {r.framework for r in loaded if not r.error}
        for run in loaded:
            if run.error and run.framework not in ran:
                unavailable[run.framework] = run.error
            for impl in {str(d["implementation"]) for d in run.docs} | {
                    str(r["implementation"]) for r in run.results}:
                for b, d in documented_for(run, impl).items():
                    sources[(run.framework, impl, b)] = str(d.get("source", ""))
    rows = [Measured(r["framework"], r["framework_version"], r["implementation"],
                     r["behaviour"], r["actual"], r["agrees"], r["documented"],
                     sources.get((r["framework"], r["implementation"], r["behaviour"]), ""))
            for r in read_discrepancies(discrepancies)]
    return Measurement(rows, unavailable)


def same_value(behaviour: str, expected: str, actual: str) -> bool:
    """Exact for categories; numeric defaults agree within 1% (the report's own rule)."""
    if expected == actual:
        return True
    b = BEHAVIOUR_BY_NAME.get(behaviour)
    if b is None or b.values is not None:
        return False
    try:
        e, a = float(expected), float(actual)
    except ValueError:
        return False
    return abs(e - a) <= 0.01 * max(abs(e), 1e-12)


# --- gate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One (framework, implementation, behaviour) against its expectation."""

    framework: str
    version: str
    implementation: str
    behaviour: str
    expected: str
    actual: str
    outcome: Outcome
    detail: str = ""

    @property
    def failed(self) -> bool:
        if self.outcome is Outcome.UNAVAILABLE:
            return bool(self.expected)
        return self.outcome is not Outcome.OK


def _groups(rows: list[Measured]) -> dict[tuple[str, str], list[Measured]]:
    groups: dict[tuple[str, str], list[Measured]] = defaultdict(list)
    for r in rows:
        groups[(r.framework, r.version)].append(r)
    return groups


def gate(measurement: Measurement, files: list[ExpectationFile]) -> list[Check]:
    """Every check, failing ones first; pure function of its inputs."""
    checks: list[Check] = []
    measured_fw = {r.framework for r in measurement.rows}
    for (fw, version), rows in sorted(_groups(measurement.rows).items()):
        f = covering(files, fw, version)
        if f is None:
            others = [x.versions for x in files if x.framework == fw]
            why = (f"{_UNCOVERED} {fw} {version}"
                   + (f" (files cover {'; '.join(others)})" if others else ""))
            checks += [Check(fw, version, r.implementation, r.behaviour, "", r.actual,
                             Outcome.NEW, why) for r in rows]
            continue
        seen = set()
        for r in rows:
            e = f.entries.get((r.implementation, r.behaviour))
            seen.add((r.implementation, r.behaviour))
            if e is None:
                checks.append(Check(fw, version, r.implementation, r.behaviour, "", r.actual,
                                    Outcome.NEW, f"not in {f.path.name}"))
            elif same_value(r.behaviour, e.actual, r.actual):
                checks.append(Check(fw, version, r.implementation, r.behaviour, e.actual,
                                    r.actual, Outcome.OK, e.reason))
            else:
                checks.append(Check(fw, version, r.implementation, r.behaviour, e.actual,
                                    r.actual, Outcome.CHANGED, f"{f.path.name}: {e.reason}"))
        checks += [Check(fw, version, e.implementation, e.behaviour, e.actual, "", Outcome.GONE,
                         f"{f.path.name}: {e.reason}")
                   for k, e in sorted(f.entries.items()) if k not in seen]
    for fw in sorted({x.framework for x in files} - measured_fw):
        reason = measurement.unavailable.get(fw)
        outcome = Outcome.UNAVAILABLE if reason is not None else Outcome.GONE
        detail = f"run is ERROR: {reason}" if reason is not None else f"{fw} was not measured"
        for f in files:
            if f.framework == fw:
                checks += [Check(fw, "", e.implementation, e.behaviour, e.actual, "", outcome,
                                 detail) for _, e in sorted(f.entries.items())]
    for fw, reason in sorted(measurement.unavailable.items()):
        if fw not in measured_fw and not any(x.framework == fw for x in files):
            checks.append(Check(fw, "", "", "", "", "", Outcome.UNAVAILABLE,
                                f"run is ERROR: {reason}"))
    rank = {Outcome.CHANGED: 0, Outcome.NEW: 1, Outcome.GONE: 2, Outcome.UNAVAILABLE: 3,
            Outcome.OK: 4}
    return sorted(checks, key=lambda c: (not c.failed, rank[c.outcome], c.framework,
                                         c.implementation, _ORDER.get(c.behaviour, 99)))


def format_table(checks: list[Check], limit: int = 60) -> str:
    """The short table of what the gate reports: failures, then unavailable frameworks."""
    uncovered: dict[str, int] = defaultdict(int)
    for c in checks:
        if c.detail.startswith(_UNCOVERED):
            uncovered[f"{c.framework} {c.version}: {c.detail}"] += 1
    shown = [c for c in checks if (c.failed or c.outcome is Outcome.UNAVAILABLE)
             and not c.detail.startswith(_UNCOVERED)]
    head = [f"NEW      {k} ({n} behaviours)" for k, n in sorted(uncovered.items())]
    if not shown:
        return "\n".join(head)
    cols = ("outcome", "framework", "version", "implementation", "behaviour", "expected",
            "actual")
    table = [cols] + [(c.outcome.value.upper(), c.framework, c.version, c.implementation or "-",
                       c.behaviour or "-", c.expected or "-",
                       c.actual or "-") for c in shown[:limit]]
    widths = [min(48, max(len(r[i]) for r in table)) for i in range(len(cols))]
    lines = ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in table]
    for c in shown[:limit]:
        if c.outcome is Outcome.UNAVAILABLE and not c.implementation:
            lines.append(f"  {c.framework}: {c.detail}")
    if len(shown) > limit:
        lines.append(f"... and {len(shown) - limit} more")
    return "\n".join(head + lines)


# --- update --------------------------------------------------------------------------


def _entry(r: Measured, old: Expectation | None) -> Expectation:
    fresh = Expectation(r.implementation, r.behaviour, r.actual, agrees=r.agrees,
                        documented=r.documented, source=r.doc_source)
    if old is not None and same_value(r.behaviour, old.actual, r.actual):
        # Reviewed text survives; the recorded value and doc state follow the measurement.
        return replace(old, actual=old.actual, agrees=r.agrees, documented=r.documented)
    if r.agrees == "yes":
        return replace(fresh, reason="as documented")
    if old is not None:
        return replace(fresh, reason=f"{UNREVIEWED}: was {old.actual!r} ({old.reason})",
                       source=old.source or fresh.source)
    what = {"no": "contradicts its documentation", "undocumented": "undocumented",
            "untested": "inconclusive"}.get(r.agrees, r.agrees)
    return replace(fresh, reason=f"{UNREVIEWED}: new in {r.framework} {r.version}, {what}")


def update(measurement: Measurement, files: list[ExpectationFile],
           root: Path) -> dict[Path, tuple[str, str]]:
    """New text of each file to (re)write, as ``path -> (old text, new text)``.

    The file covering a measured version is rewritten. When none covers it, the
    framework's main file ``<framework>.toml`` moves to that version
    (``versions = "==<version>"``), keeping reasons whose values did not change;
    copy it to another name first to keep expectations for several versions.
    Files of unavailable frameworks are left alone.
    """
    out: dict[Path, tuple[str, str]] = {}
    for (fw, version), rows in sorted(_groups(measurement.rows).items()):
        f = covering(files, fw, version)
        if f is None:
            path = root / f"{fw}.toml"
            main = next((x for x in files if x.path == path), None)
            f = ExpectationFile(path, fw, f"=={version}", dict(main.entries) if main else {})
        new = ExpectationFile(f.path, fw, f.versions)
        for r in rows:
            e = _entry(r, f.entries.get((r.implementation, r.behaviour)))
            new.entries[e.key] = e
        old_text = f.path.read_text(encoding="utf-8") if f.path.exists() else ""
        if new.path in out:
            raise ValueError(f"{new.path}: two measured versions of {fw} map to one file")
        out[new.path] = (old_text, render_file(new, version))
    return out


def unified_diff(changes: dict[Path, tuple[str, str]]) -> str:
    def label(side: str, path: Path) -> str:
        return str(path) if path.is_absolute() else f"{side}/{path}"

    return "".join(
        "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     label("a", path), label("b", path)))
        for path, (old, new) in sorted(changes.items()) if old != new)
