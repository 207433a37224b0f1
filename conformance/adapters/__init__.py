"""One adapter per framework behind :class:`conformance.adapters.base.Adapter`."""

from __future__ import annotations

import importlib

from conformance.adapters.base import Adapter
from conformance.environments import ADAPTERS


def load_adapter(framework: str) -> Adapter:
    """Instantiate the framework's adapter (its framework is imported later, in ``load``)."""
    if framework not in ADAPTERS:
        raise ValueError(f"unknown framework {framework!r}; known: {', '.join(ADAPTERS)}")
    module_name, cls_name = ADAPTERS[framework].split(":")
    adapter: Adapter = getattr(importlib.import_module(module_name), cls_name)()
    return adapter
