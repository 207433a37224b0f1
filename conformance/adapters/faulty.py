"""Fault injection for the suite's own tests: the NumPy oracle, made to misbehave on cue.

Never registered in :data:`conformance.environments.ADAPTERS`. The worker uses
it in place of the ``numpy`` adapter only when ``CONFORMANCE_FAULTS`` is set
(see ``conformance.runner._adapter``), and its version carries ``+faults``,
so a run made with it cannot pass for a real one. The variable holds
comma-separated ``MODE@TEXT`` items: the fault fires on every case whose id
contains ``TEXT`` (an empty ``TEXT`` matches every case). Modes:

``segv``    the process sends itself SIGSEGV        -> CRASH
``abort``   ``os.abort()`` (SIGABRT)                -> CRASH
``sigkill`` SIGKILL, as the kernel's OOM killer does -> CRASH
``exit``    ``os._exit(7)`` in the middle of a case -> CRASH
``hang``    sleeps far past any time limit         -> TIMEOUT
``raise``   a Python exception in the op          -> ERROR (not a fault of the worker)
``slow``    sleeps 0.25 s, then runs normally       (lets tests kill a run mid-way)

and, without ``@TEXT``, faults of the import itself: ``import`` (``load`` raises
ImportError -> ERROR header), ``import_hang`` and ``import_segv``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence

import numpy as np

from conformance.adapters.base import Implementation, Outputs
from conformance.adapters.numpy_ref import NumpyAdapter
from conformance.cases.model import Case

CASE_MODES = ("segv", "abort", "sigkill", "exit", "hang", "raise", "slow")
IMPORT_MODES = ("import", "import_hang", "import_segv")


def parse(spec: str) -> list[tuple[str, str]]:
    """``MODE@TEXT`` items as (mode, text); raises ValueError on an unknown mode."""
    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        mode, _, text = item.partition("@")
        if mode not in CASE_MODES + IMPORT_MODES:
            raise ValueError(f"CONFORMANCE_FAULTS: unknown fault {mode!r}; "
                             f"known: {', '.join(CASE_MODES + IMPORT_MODES)}")
        faults.append((mode, text))
    return faults


def fire(mode: str) -> None:
    """Misbehave as ``mode`` says (most modes never return)."""
    if mode in ("segv", "import_segv"):
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "abort":
        os.abort()
    elif mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "exit":
        os._exit(7)
    elif mode in ("hang", "import_hang"):
        time.sleep(3600)
    elif mode == "raise":
        raise RuntimeError("injected fault")
    elif mode == "import":
        raise ImportError("injected fault: no module named 'faulty_framework'")
    elif mode == "slow":
        time.sleep(0.25)


class FaultyImplementation(Implementation):
    """Wraps an oracle implementation; fires the faults whose text matches the case id."""

    def __init__(self, inner: Implementation, faults: list[tuple[str, str]]) -> None:
        super().__init__(inner.name, inner.op, dict(inner.meta))
        self.inner = inner
        self.faults = faults

    def qualify(self, case: Case) -> str:
        return self.inner.qualify(case)

    def supports(self, case: Case) -> str | None:
        return self.inner.supports(case)

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        for mode, text in self.faults:
            if mode in CASE_MODES and text in case.id:
                fire(mode)
        return self.inner.run(case, inputs)


class FaultyAdapter(NumpyAdapter):
    framework = "numpy"

    def __init__(self, spec: str) -> None:
        self.faults = parse(spec)

    def load(self) -> None:
        for mode, _ in self.faults:
            if mode in IMPORT_MODES:
                fire(mode)

    def version(self) -> str:
        return f"{np.__version__}+faults"

    def implementations(self) -> Sequence[Implementation]:
        return [FaultyImplementation(i, self.faults) for i in super().implementations()]
