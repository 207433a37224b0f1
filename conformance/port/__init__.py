"""Porting batch norm between frameworks, verified by running both (see ``core``).

``from conformance.port import port``; the names load on first use, so the CLI (which
imports ``conformance.port.cli``) starts without the analysis modules.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Port", "Side", "Verdict", "port", "port_checkpoint", "port_many", "side"]


def __getattr__(name: str) -> Any:
    if name == "port_checkpoint":
        return importlib.import_module("conformance.port.carry").port_checkpoint
    if name in __all__:
        return getattr(importlib.import_module("conformance.port.core"), name)
    raise AttributeError(f"module 'conformance.port' has no attribute {name!r}")
