"""keep_freed_memory: glibc's thresholds raised so that analysis temporaries are reused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.compare import allocator

_CHILD = """
import resource
import numpy as np
from conformance.compare.allocator import keep_freed_memory
print(keep_freed_memory())
xs = [np.ones(n) for n in (20_000, 100_000, 400_000, 1_000_000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    for x in xs:  # temporaries of 160 KB to 8 MB, freed each time, as in analysis
        y = x * 2.0
        z = y + 1.0
        del y, z
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(keep: bool) -> tuple[str, int]:
    code = _CHILD if keep else _CHILD.replace("print(keep_freed_memory())", "print(False)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    applied, kept = _faults(keep=True)
    _, default = _faults(keep=False)
    assert applied == "True"
    # By default the larger temporaries are fresh pages each time (about 118,000 faults).
    assert default > 20_000
    assert kept < default / 10


def test_without_mallopt_nothing_is_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert allocator.keep_freed_memory() is False
