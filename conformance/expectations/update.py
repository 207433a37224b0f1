"""``conformance expectations update``: rewrite the files from the latest measurement.

Reviewed text is kept where the review still holds, i.e. where actual,
documented and agrees are all unchanged. Any other entry is rewritten: "as
documented" when it now agrees with its documentation and nobody had written
a reason for it; otherwise marked ``UNREVIEWED`` with what it was (a reviewed
reason is kept inside), so the diff a reviewer reads names every field that moved.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path

from conformance.expectations.files import Expectation, ExpectationFile, covering, render_file
from conformance.expectations.gate import field_diffs
from conformance.expectations.measure import Measured, Measurement, groups

UNREVIEWED = "UNREVIEWED"
_STATE = {"no": "contradicts its documentation", "undocumented": "undocumented",
          "untested": "inconclusive", "unverified": "its quote is gone from the docstring",
          "not_applicable": "the suite's own code", "demonstration": "a demonstration"}


def _was(old: Expectation, r: Measured) -> str:
    parts = [f"{d.expected!r}" if d.field == "actual" else f"{d.field} {d.expected!r}"
             for d in field_diffs(old, r)]
    return f"was {', '.join(parts)} ({old.reason})"


def _review_holds(old: Expectation, r: Measured) -> bool:
    """No gated field moved. An empty ``agrees`` was never recorded (files written
    before it was gated, or by hand): filling it in is a migration, not a change."""
    return all(d.field == "agrees" and not d.expected for d in field_diffs(old, r))


def _reviewed(old: Expectation | None) -> bool:
    """Whether a person wrote the reason: such text is never replaced by boilerplate."""
    return old is not None and old.reason not in ("", "as documented") and not \
        old.reason.startswith(UNREVIEWED)


def entry(r: Measured, old: Expectation | None) -> Expectation:
    """The entry to write for ``r``, given the reviewed one (None when new)."""
    if old is not None and _review_holds(old, r):
        # Values (within 1%), reason and source survive; agrees is filled in if missing.
        return replace(old, agrees=old.agrees or r.agrees)
    fresh = Expectation(r.implementation, r.behaviour, r.actual, agrees=r.agrees,
                        documented=r.documented, source=r.doc_source)
    if r.agrees == "yes" and not _reviewed(old):
        return replace(fresh, reason="as documented")
    if old is not None:
        return replace(fresh, reason=f"{UNREVIEWED}: {_was(old, r)}",
                       source=old.source or fresh.source)
    what = _STATE.get(r.agrees, r.agrees)
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
    for (fw, version), rows in sorted(groups(measurement.rows).items()):
        f = covering(files, fw, version)
        if f is None:
            path = root / f"{fw}.toml"
            main = next((x for x in files if x.path == path), None)
            f = ExpectationFile(path, fw, f"=={version}", dict(main.entries) if main else {})
        new = ExpectationFile(f.path, fw, f.versions)
        for r in rows:
            e = entry(r, f.entries.get((r.implementation, r.behaviour)))
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
