"""Known findings: reviewed data, like ``expectations/``.

``explore/known.toml`` holds one ``[[finding]]`` per root cause already triaged::

    [[finding]]
    signature = "oracle|torch|batchnorm|value||dtype=float16"
    triage = "real_bug"            # or documented_limitation, not_a_bug
    reason = "why, with the evidence"
    upstream = "https://github.com/..."   # optional
    case = '{"op": "batchnorm", "params": {...}}'  # the shrunk configuration

Every exploration re-runs each known finding's case, so a known finding that no longer
shows is reported as gone (fixed), and only signatures not in the file are new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tomllib

from conformance.cases.model import Case, Param
from conformance.explore.group import RootCause
from conformance.explore.sampler import case_of

TRIAGES = ("real_bug", "documented_limitation", "not_a_bug")


@dataclass(frozen=True)
class Known:
    signature: str
    triage: str
    reason: str
    upstream: str
    case: Case | None


def _params(raw: dict[str, object]) -> dict[str, Param]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}  # type: ignore[misc]


def load(path: Path) -> list[Known]:
    """The reviewed findings; a malformed file raises ``ValueError`` naming the entry."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not TOML: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("finding", []), start=1):
        try:
            triage = str(entry["triage"])
            if triage not in TRIAGES:
                raise ValueError(f"triage {triage!r} is not one of {', '.join(TRIAGES)}")
            raw = entry.get("case")
            case = None
            if raw:
                spec = json.loads(raw)
                case = case_of(str(spec["op"]), _params(spec["params"]))
            out.append(Known(str(entry["signature"]), triage, str(entry.get("reason", "")),
                             str(entry.get("upstream", "")), case))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: finding {i}: {exc}") from None
    return out


def case_json(case: Case) -> str:
    return json.dumps({"op": case.op, "params": case.param_dict()}, sort_keys=True)


@dataclass(frozen=True)
class Verdict:
    new: list[RootCause]
    still: list[tuple[RootCause, Known]]
    gone: list[Known]


def frameworks_of(signature: str) -> set[str]:
    """The frameworks a signature needs: its own, and a pair's other side."""
    parts = signature.split("|")
    out = {parts[1]} if len(parts) > 1 else set()
    if len(parts) > 4 and ":" in parts[4]:
        out.add(parts[4].split(":", 1)[0])
    return out


def classify(causes: Iterable[RootCause], known: Iterable[Known],
             ran: Iterable[str]) -> Verdict:
    """New causes, known ones still present, and known ones that no longer show (only
    for frameworks that ran: a framework left out says nothing about its findings)."""
    by_sig = {k.signature: k for k in known}
    causes = list(causes)
    seen = {c.signature for c in causes}
    frameworks = set(ran)
    return Verdict([c for c in causes if c.signature not in by_sig],
                   [(c, by_sig[c.signature]) for c in causes if c.signature in by_sig],
                   [k for s, k in by_sig.items()
                    if s not in seen and frameworks_of(s) <= frameworks])
