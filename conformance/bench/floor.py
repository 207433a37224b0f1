"""The floor: a framework adapter's own implementations in a bare loop, nothing else.

``python -m conformance.bench.floor --framework torch --cases DIR`` loads the
adapter (which imports the framework), reads every case's ``.npz`` inputs once,
then for every case and every implementation of its op makes the calls the
worker makes to produce a result (``supports``, ``seed``, ``run``) and drops the
outputs. What the worker adds on top (result records, JSON, ``.npz`` outputs and
their summaries, documented claims, the orchestrator and its pipes) is what the
bench's suite / floor ratio measures. No second copy of any framework call: the
floor runs the adapter's code, so it cannot drift from it.

It prints one JSON line for the bench: seconds to import (the suite's modules and
``Adapter.load()``), to read the inputs and to run the loop, and the counts of
(case, implementation) pairs, calls, framework errors and unsupported pairs.
Interpreter start-up is not in it; the bench times the whole child process.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from conformance.adapters import load_adapter  # noqa: E402
from conformance.adapters.base import Adapter, Implementation, Unsupported  # noqa: E402
from conformance.arrays import load_arrays  # noqa: E402
from conformance.cases.model import Case  # noqa: E402
from conformance.cases.store import load_manifest  # noqa: E402


@dataclass
class Counts:
    """What the bare loop did: every (case, implementation) pair is exactly one of
    called (``calls``, of which ``errors`` raised) or ``unsupported``."""

    pairs: int = 0
    calls: int = 0
    errors: int = 0
    unsupported: int = 0


def read_inputs(cases_dir: Path, cases: Sequence[Case]) -> list[dict[str, np.ndarray]]:
    """Every case's input arrays, read once, in manifest order (no digest check)."""
    return [load_arrays(cases_dir / "inputs" / f"{case.id}.npz") for case in cases]


def bare_loop(adapter: Adapter, impls: Sequence[Implementation], cases: Sequence[Case],
              inputs: Sequence[dict[str, np.ndarray]]) -> Counts:
    """The worker's calls per pair (``supports``, ``seed``, ``run``), outputs dropped."""
    by_op: dict[str, list[Implementation]] = {}
    for impl in impls:
        by_op.setdefault(impl.op, []).append(impl)
    n = Counts()
    for case, arrays in zip(cases, inputs, strict=True):
        for impl in by_op.get(case.op, ()):
            n.pairs += 1
            try:
                if impl.supports(case) is not None:
                    n.unsupported += 1
                    continue
                adapter.seed(case.seed)
                impl.run(case, arrays)
            except Unsupported:
                n.unsupported += 1
                continue
            except Exception:  # a framework error is an outcome here too, as in the worker
                n.errors += 1
            n.calls += 1
    return n


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.bench.floor",
                                description="bare loop of one adapter's implementations")
    p.add_argument("--framework", required=True)
    p.add_argument("--cases", type=Path, required=True)
    args = p.parse_args(argv)
    adapter = load_adapter(args.framework)
    adapter.load()
    impls = adapter.implementations()
    t_imported = time.perf_counter()
    cases = load_manifest(args.cases)
    inputs = read_inputs(args.cases, cases)
    t_read = time.perf_counter()
    counts = bare_loop(adapter, impls, cases, inputs)
    t_done = time.perf_counter()
    print(json.dumps({"framework": args.framework, "import_s": t_imported - T0,
                      "read_s": t_read - t_imported, "loop_s": t_done - t_read,
                      "cases": len(cases), **asdict(counts)}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
