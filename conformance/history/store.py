"""One entry per release of a history: its key, pairing and outcome, kept on disk.

``<out>/releases/<slug>/entry.json`` records what was asked (the pins), what it was
paired with (the companions the resolver chose, with the bounds it was given), how it
ended and how long it took; the release's run directories sit beside it in ``runs/``.
The key is a digest of the pins, the frameworks run, the Python, the suite version, the
case set and the install recipe (companions' bounds, overrides): an entry with the same key
is done (resume), whatever its outcome, so an uninstallable release is not tried again
until something in its key changes; any change (a new suite version, another case set)
runs the release again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.files import write_text_atomic

ENTRY = "entry.json"
# How a release ended. Only "ok" releases have behaviour values; every other status is
# listed with its reason in releases.csv and on the timeline.
OK, UNPAIRED, NO_FILES, INSTALL_FAILED, IMPORT_FAILED, RUN_FAILED = (
    "ok", "unpaired", "no_files_for_python", "install_failed", "import_failed", "run_failed")
STATUSES = (OK, UNPAIRED, NO_FILES, INSTALL_FAILED, IMPORT_FAILED, RUN_FAILED)


def release_key(pins: tuple[str, ...], frameworks: tuple[str, ...], python: str,
                suite_version: str, case_set: str, install: tuple[str, ...] = ()) -> str:
    """``install``: what the resolver is given besides the pins (companions' bounds,
    overrides): another recipe is another environment, so the release runs again."""
    text = json.dumps({"pins": sorted(pins), "frameworks": sorted(frameworks),
                       "python": python, "suite_version": suite_version,
                       "case_set": case_set, **({"install": sorted(install)} if install else {})},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slug(pins: tuple[str, ...]) -> str:
    """A directory name for a release: ``tensorflow-cpu-2.16.2+tf-keras-2.16.0``."""
    return "+".join(p.replace("==", "-") for p in pins)


@dataclass
class Entry:
    package: str
    version: str
    pins: tuple[str, ...]
    frameworks: tuple[str, ...]
    key: str
    suite_version: str = ""
    case_set: str = ""
    status: str = ""
    reason: str = ""
    bounds: tuple[str, ...] = ()  # what the resolver was given for the companions
    companions: dict[str, str] = field(default_factory=dict)  # what it chose
    install_seconds: float = 0.0
    run_seconds: float = 0.0
    behaviours: list[dict[str, str]] = field(default_factory=list)  # from the analysis

    def companions_text(self) -> str:
        """``tensorflow-cpu==2.16.2 tf-keras==2.16.0``: the release's partners as run."""
        return " ".join(f"{n}=={v}" for n, v in sorted(self.companions.items()))

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Entry:
        record = dict(record)
        for name in ("pins", "frameworks", "bounds"):
            record[name] = tuple(record.get(name, ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in record.items() if k in known})


def entry_dir(out: Path, pins: tuple[str, ...]) -> Path:
    return out / "releases" / slug(pins)


def save(out: Path, entry: Entry) -> Path:
    path = entry_dir(out, entry.pins) / ENTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(asdict(entry), indent=1, sort_keys=True) + "\n")
    return path


def load(out: Path, pins: tuple[str, ...]) -> Entry | None:
    """The stored entry of a release, or ``None`` when there is none or it is unreadable."""
    return _read(entry_dir(out, pins) / ENTRY)


def is_done(out: Path, pins: tuple[str, ...], key: str) -> Entry | None:
    """The stored entry when it has this key and an outcome (resume skips the release)."""
    entry = load(out, pins)
    return entry if entry is not None and entry.key == key and entry.status else None


def load_all(out: Path) -> list[Entry]:
    root = out / "releases"
    entries = [_read(p / ENTRY) for p in sorted(root.iterdir())] if root.is_dir() else []
    return [e for e in entries if e is not None]


def _read(path: Path) -> Entry | None:
    try:
        return Entry.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
