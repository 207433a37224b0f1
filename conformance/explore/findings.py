"""A finding: one implementation (or pair of forms) failing one check on one case."""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("oracle", "pair", "status")


@dataclass(frozen=True)
class Finding:
    """``kind``: ``oracle`` (deviates from its own measured conventions), ``pair`` (two
    equivalent forms disagree), ``status`` (crashes, hangs or raises). ``check``: the
    output key, or the status and normalized message. ``other``: the pair's other form."""

    kind: str
    framework: str
    version: str
    implementation: str
    base: str
    op: str
    check: str
    case_id: str
    detail: str
    other: str = ""  # "framework:base" of the pair's other side

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What must still fail on a smaller case for it to show the same finding."""
        return (self.kind, self.framework, self.base, self.check, self.other)


def message_key(text: str) -> str:
    """An error's telling line with numbers and quoted names blanked, so one cause groups."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # terminal colours (torch.onnx's errors)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if "Exception encountered when calling" in first and len(lines) > 1:
        first = lines[1]
    first = re.sub(r"'[^']*'", "'…'", first)
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", first)[:120]
