"""The order workers start in: longest first, by what each took last time.

``conformance run`` runs ``--jobs`` workers at a time. Started in the order given, the
slowest environments (Flax, the ONNX export rows) began last on a 2-job run and the run
lasted about the sum of the tail, not the slowest worker. Starting the longest first
(the classic longest-processing-time rule) makes the wall time about the longest worker
whenever it is longer than the rest divided by the other jobs. The durations come from
the previous run's records (its header's ``started`` and its ``end``), read before
``--fresh`` removes them; a framework with no earlier run starts first (it may be long),
and ties keep the order given. Results are reported in the order given either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from conformance.runner import RESULTS


def previous_seconds(out: Path) -> dict[str, float]:
    """Wall seconds of each framework's last complete run under ``out`` (header to end)."""
    seconds: dict[str, float] = {}
    for path in sorted(out.glob(f"*/{RESULTS}")):
        started = finished = framework = None
        try:
            with path.open() as fh:
                first = json.loads(fh.readline() or "{}")
                if first.get("kind") == "header":
                    started, framework = first.get("started"), first.get("framework")
                for line in fh:
                    if '"kind": "end"' in line:
                        rec = json.loads(line)
                        if rec.get("kind") == "end":
                            finished = rec.get("finished")
        except (OSError, ValueError):
            continue
        if (isinstance(framework, str) and isinstance(started, (int, float))
                and isinstance(finished, (int, float)) and finished >= started):
            seconds[framework] = max(seconds.get(framework, 0.0), finished - started)
    return seconds


def longest_first(frameworks: Sequence[str], seconds: Mapping[str, float]) -> list[int]:
    """Indexes of ``frameworks`` in the order to start them: unknown durations first,
    then longest to shortest; a stable sort, so ties keep the order given."""
    return sorted(range(len(frameworks)),
                  key=lambda i: -seconds.get(frameworks[i], float("inf")))
