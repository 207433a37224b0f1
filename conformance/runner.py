"""The worker: runs every case of one framework in one process, streaming JSON lines.

Run directory (one per framework, version, Python and platform)::

    <out>/<framework>-<version>-py<X.Y>-<platform>[-<device>]/
        results.jsonl            header, doc claims, then start/result records
        outputs/<key>.npz        arrays of each ok result

Each result is appended and flushed as soon as it exists, and a ``start``
record precedes it, so the orchestrator can tell which case a dead or hung
worker was on. ``resume=True`` skips every (case, implementation) that already
has a result, whatever its status.

``device`` (``cpu``, ``cuda``, ``cuda:1``) is where the adapter places its work. A run on
any device but the CPU is its own run: its directory name ends in ``-<device type>`` and
its header carries ``device_type``, which the loader appends to the version
(``torch 2.13.0 (cuda)``), so the report, the gate and ``conformance diff`` treat it as a
version of its own beside the CPU run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

import conformance
from conformance.adapters import load_adapter
from conformance.adapters.base import Adapter, Implementation, Unsupported, case_variables
from conformance.arrays import save_arrays
from conformance.cases.model import Case
from conformance.cases.store import case_set, load_inputs, load_manifest
from conformance.shards import environment_facts
from conformance.spec import SCHEMA_VERSION, RunStatus

RESULTS = "results.jsonl"
# Fields that legitimately differ between two identical runs.
TIMING_FIELDS = frozenset({"seconds", "started", "finished", "wall_seconds", "maxrss_kb"})
# Test-only fault injection (see conformance/adapters/faulty.py); never set in real runs.
FAULTS_ENV = "CONFORMANCE_FAULTS"


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine()}"


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def device_type(device: str) -> str:
    """``cuda:1`` -> ``cuda``: the kind of device, what names a run."""
    return device.split(":", 1)[0]


def run_dir_name(framework: str, version: str, device: str = "cpu") -> str:
    kind = device_type(device)
    suffix = "" if kind == "cpu" else f"-{kind}"
    return f"{framework}-{version}-py{python_tag()}-{platform_tag()}{suffix}"


def result_key(case_id: str, implementation: str, op: str) -> str:
    """File-safe key of one (case, implementation) pair."""
    digest = hashlib.sha256(f"{implementation}|{op}".encode()).hexdigest()[:8]
    return f"{case_id}__{digest}"


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a results file; a truncated last line (killed writer) is skipped."""
    if not path.exists():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 results file") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines):
                return  # the writer died mid-line; that result is redone on resume
            raise ValueError(f"{path}:{lineno}: not a JSON record") from None
        if not isinstance(record, dict) or "kind" not in record:
            raise ValueError(f"{path}:{lineno}: record has no 'kind'")
        yield record


class Writer:
    """Appends records to the results file and echoes progress to ``echo``."""

    def __init__(self, path: Path, echo: IO[str] | None) -> None:
        self.path = path
        self.echo = echo
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_line(path)
        self._fh = path.open("a")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=_json_default)
        self._fh.write(line + "\n")
        self._fh.flush()
        if self.echo is not None:
            self.echo.write(line + "\n")
            self.echo.flush()

    def echo_only(self, record: dict[str, Any]) -> None:
        """Tell the orchestrator without writing the file (the header of a resumed run)."""
        if self.echo is not None:
            self.echo.write(json.dumps(record, sort_keys=True, default=_json_default) + "\n")
            self.echo.flush()

    def close(self) -> None:
        self._fh.close()


def _drop_partial_line(path: Path) -> None:
    """Cut a last line left unfinished by a killed writer, so appends start on a new line.

    Without this, the next record would be glued to the fragment and the file
    would have a bad line in the middle, which :func:`read_records` rejects.
    """
    if not path.exists():
        return
    with path.open("r+b") as fh:
        size = fh.seek(0, 2)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        keep = 0
        pos = size
        while pos > 0 and not keep:
            start = max(0, pos - 65536)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
            pos = start
        fh.truncate(keep)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _summary(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, arr in sorted(outputs.items()):
        a = np.asarray(arr, dtype=np.float64)
        low: float | None
        high: float | None
        if a.size and np.isfinite(a).all():  # the common case, without masks and copies
            nan = inf = 0
            low, high = float(a.min()), float(a.max())
        else:
            finite = a[np.isfinite(a)]
            nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
            low = float(finite.min()) if finite.size else None
            high = float(finite.max()) if finite.size else None
        summary[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "nan": nan,
                         "inf": inf, "min": low, "max": high}
    return summary


def header(adapter: Adapter, version: str) -> dict[str, Any]:
    """``device`` (from the adapter) describes the real device, ``cuda:0 (NVIDIA H200)``;
    ``device_type`` (what was asked for) names the run."""
    return {
        "kind": "header", "schema": SCHEMA_VERSION, "suite_version": conformance.__version__,
        "framework": adapter.framework, "framework_version": version,
        "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform_tag(), **adapter.environment(),
        "device_type": device_type(adapter.device), **environment_facts(adapter.framework),
    }


def _error_header(framework: str, device: str, exc: BaseException) -> dict[str, Any]:
    return {"kind": "header", "schema": SCHEMA_VERSION, "framework": framework,
            "framework_version": "unavailable", "python": platform.python_version(),
            "platform": platform_tag(), "suite_version": conformance.__version__,
            "device_type": device_type(device),
            "error": {"type": type(exc).__name__,
                      "message": str(exc).splitlines()[0][:500] if str(exc) else ""}}


class DeviceUnavailable(RuntimeError):
    """The device asked for is not one this adapter, or this machine, can use."""


def _prepare(framework: str, device: str) -> tuple[Adapter, str]:
    """The loaded adapter on ``device`` and the framework's version."""
    adapter = _adapter(framework)
    if device_type(device) not in adapter.devices:
        raise DeviceUnavailable(f"{framework} runs on {', '.join(adapter.devices)} only, "
                                f"not {device}")
    adapter.device = device
    adapter.load()
    return adapter, adapter.version()


def _provenance(impl: Implementation, case: Case) -> dict[str, Any]:
    """The row's declarations (see ``Implementation``), only those that say something."""
    out: dict[str, Any] = {}
    recipe = impl.recipe_behaviours(case)
    if recipe:
        out["recipe"] = sorted(recipe)
    scenario = impl.demonstration(case)
    if scenario:
        out["demonstration"] = scenario
    if case.op == "dropout":
        shape = impl.mask_shape(case)
        out["mask_shape"] = None if shape is None else list(shape)
    config = impl.config(case)
    if config:
        out["config"] = config
    variables = _variables(impl, case)
    if variables:
        out["variables"] = variables
    return out


def _variables(impl: Implementation, case: Case) -> list[dict[str, Any]]:
    """A batch-norm row's variables (role, the framework's name, shape, dtype), read from a
    layer the adapter builds with the case's arguments; nothing where the row has no
    variable IO or the layer cannot be built for this case (the run itself said so)."""
    if case.op != "batchnorm" or case.get("flags") is not None:
        return []
    # Names, shapes and dtypes depend on the row, the input's shape and dtype only: one
    # layer per such key (building a Keras layer costs more than many a case).
    key = (id(impl), impl.name, case.shape, case.dtype)
    if key not in _VARIABLES:
        port = impl.portable()
        try:
            _VARIABLES[key] = [] if port is None else case_variables(port, case)
        except Exception:  # a record without variables, never a failed run
            _VARIABLES[key] = []
    return _VARIABLES[key]


_VARIABLES: dict[tuple[object, ...], list[dict[str, Any]]] = {}


def run_one(impl: Implementation, case: Case, inputs: dict[str, np.ndarray],
            adapter: Adapter, outputs_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": "result", "framework": adapter.framework,
                              "implementation": impl.qualify(case), "base": impl.name,
                              "op": case.op, "case_id": case.id}
    t0 = time.perf_counter()
    try:
        reason = impl.supports(case)
        if reason is not None:
            return {**record, "status": RunStatus.UNSUPPORTED.value, "reason": reason}
        adapter.seed(case.seed)
        t0 = time.perf_counter()
        outputs = impl.run(case, inputs)
    except Unsupported as exc:
        return {**record, "status": RunStatus.UNSUPPORTED.value, "reason": str(exc)}
    except Exception as exc:  # a framework error is an outcome, not a suite failure
        tb = traceback.extract_tb(exc.__traceback__)
        return {**record, "status": RunStatus.ERROR.value,
                "error": {"type": type(exc).__name__, "message": str(exc)[:2000],
                          "where": f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""},
                "seconds": time.perf_counter() - t0}
    record.update(_provenance(impl, case))
    key = result_key(case.id, impl.name, case.op)
    try:
        save_arrays(outputs_dir / f"{key}.npz", outputs, compress=False)
    except (TypeError, ValueError, AttributeError) as exc:  # not a dict of numeric arrays
        return {**record, "status": RunStatus.ERROR.value,
                "error": {"type": type(exc).__name__, "where": "outputs",
                          "message": f"adapter returned outputs that cannot be stored: {exc}"},
                "seconds": time.perf_counter() - t0}
    return {**record, "status": RunStatus.OK.value, "outputs": f"outputs/{key}.npz",
            "summary": _summary(outputs), "seconds": time.perf_counter() - t0}


def _adapter(framework: str) -> Adapter:
    """The framework's adapter; under ``CONFORMANCE_FAULTS`` (tests only) the faulty one.

    The fault-injection adapter stands in for ``numpy`` only, so it can never
    appear under a framework name of its own in a report.
    """
    spec = os.environ.get(FAULTS_ENV, "")
    if spec and framework == "numpy":
        from conformance.adapters.faulty import FaultyAdapter

        return FaultyAdapter(spec)
    return load_adapter(framework)


def _input_error(impl: Implementation, case: Case, framework: str,
                 exc: Exception) -> dict[str, Any]:
    return {"kind": "result", "framework": framework, "implementation": impl.qualify(case),
            "base": impl.name, "op": case.op, "case_id": case.id,
            "status": RunStatus.ERROR.value,
            "error": {"type": "BadInput", "message": str(exc)[:2000], "where": "inputs"}}


def run_worker(framework: str, cases_dir: Path, out_root: Path, *, resume: bool = False,
               echo: IO[str] | None = None, case_filter: str | None = None,
               device: str = "cpu") -> int:
    """Run one framework's cases; returns 0, or 3 when the framework cannot be imported
    or cannot use ``device`` (the run's header then holds the one-line reason)."""
    cases = load_manifest(cases_dir)
    if case_filter:
        cases = [c for c in cases if case_filter in c.id]
    try:
        adapter, version = _prepare(framework, device)
    except Exception as exc:
        run_dir = out_root / run_dir_name(framework, "unavailable", device)
        (run_dir / RESULTS).unlink(missing_ok=True)
        writer = Writer(run_dir / RESULTS, echo)
        writer.write(_error_header(framework, device, exc))
        writer.close()
        return 3
    run_dir = out_root / run_dir_name(framework, version, device)
    results = run_dir / RESULTS
    done: set[tuple[str, str, str]] = set()
    if resume:
        done = {(r["case_id"], r.get("base", r["implementation"]), r["op"])
                for r in read_records(results) if r["kind"] == "result"}
    if not resume or not results.exists():
        results.unlink(missing_ok=True)
    writer = Writer(results, echo)
    if not done:
        writer.write({**header(adapter, version), "case_set": case_set(cases_dir),
                      "started": time.time()})
        for claim in adapter.documented():
            writer.write({"kind": "doc", "framework": framework, **claim.to_json()})
    else:
        writer.echo_only({**header(adapter, version), "resumed": True})
    impls = adapter.implementations()
    names = [(i.name, i.op) for i in impls]
    if len(set(names)) != len(names):  # results are keyed by (case, name, op)
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{framework} adapter registers {dup[0]} ({dup[1]}) twice")
    # Echoed only (never in the results file): how many results this framework owes in
    # all and how many it already has, so the orchestrator can show done/total and an ETA.
    planned = [(case.id, i.name, case.op) for case in cases for i in impls if i.op == case.op]
    writer.echo_only({"kind": "plan", "total": len(planned),
                      "done": sum(1 for key in planned if key in done)})
    for case in cases:
        todo = [i for i in impls if i.op == case.op and (case.id, i.name, case.op) not in done]
        if not todo:
            continue
        try:
            inputs = load_inputs(cases_dir, case)
        except (OSError, ValueError) as exc:  # a bad input file spoils this case only
            for impl in todo:
                writer.write(_input_error(impl, case, adapter.framework, exc))
            continue
        for impl in todo:
            writer.write({"kind": "start", "case_id": case.id, "base": impl.name,
                          "implementation": impl.qualify(case), "op": case.op})
            writer.write(run_one(impl, case, inputs, adapter, run_dir / "outputs"))
    # Peak memory of this worker (kB on Linux), for the benchmark (conformance.bench).
    writer.write({"kind": "end", "finished": time.time(),
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    writer.close()
    return 0
