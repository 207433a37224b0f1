"""Run every release of a history: install, run its frameworks, analyze, store.

Releases run ``jobs`` at a time (one per core by default). Inside a release the
frameworks run through the orchestrator, as in the main run: each worker its own
process, per-case time limits, crashes and hangs turned into outcomes, progress lines
(labelled ``keras 3.4.1``). A release already stored under the same key is not run
again; every other outcome (unpaired, no files for this Python, not installable, not
importable) is stored with
its reason so that the report lists it.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.cases.model import Case
from conformance.environments import Environment
from conformance.envsetup import overrides
from conformance.history.install import Installer, companion_bounds, companions
from conformance.history.request import Release
from conformance.history.store import (
    IMPORT_FAILED,
    INSTALL_FAILED,
    OK,
    RUN_FAILED,
    UNPAIRED,
    Entry,
    entry_dir,
    is_done,
    release_key,
    save,
    slug,
)
from conformance.progress import Reporter
from conformance.upgrade import normalize

Log = Callable[[str], None]
_INTERRUPTED = threading.Event()


def _stderr(line: str) -> None:
    print(f"history: {line}", file=sys.stderr, flush=True)


def frameworks_for(packages: tuple[str, ...], env: Environment) -> tuple[str, ...]:
    """The frameworks a history of ``packages`` is about: those named after a package
    (``tf-keras`` drives ``tf_keras``, ``tensorflow-cpu`` drives ``tensorflow``);
    every framework of the environment when none is."""
    names = {normalize(p).removesuffix("-cpu") for p in packages}
    hits = tuple(f for f in env.frameworks if normalize(f) in names)
    return hits or env.frameworks


def wrong_version(framework: str, run_dir: Path, pins: tuple[str, ...]) -> str:
    """Why a run is not of the release (its framework reports another version than the
    pin of the package named after it), or ``""``: a check that the pairing held."""
    import json

    from conformance.runner import RESULTS

    pinned = {normalize(p.split("==")[0]).removesuffix("-cpu"): p for p in pins}
    pin = pinned.get(normalize(framework))
    try:
        with (run_dir / RESULTS).open(encoding="utf-8") as f:
            version = str(json.loads(f.readline()).get("framework_version", ""))
    except (OSError, ValueError):
        return ""
    if pin is None or version == pin.split("==")[1]:
        return ""
    return f"{framework} reports version {version}, not the release's {pin}"


@dataclass(frozen=True)
class Plan:
    env: Environment
    frameworks: tuple[str, ...]
    python: str  # X.Y of the environments
    suite_version: str
    case_set: str
    cases_dir: Path
    out: Path  # reports/history
    envs_dir: Path  # where release environments are built (.nox/_history)
    jobs: int = 2
    case_timeout: float = 120.0
    keep_envs: bool = False

    def key(self, release: Release) -> str:
        bounds = companion_bounds(self.env.packages, release.pins)
        return release_key(release.pins, self.frameworks, self.python, self.suite_version,
                           self.case_set, (*bounds, *overrides([*release.pins, *bounds])))


class _Labelled:
    """A reporter that shows each framework with its release (``keras 3.4.1``)."""

    def __init__(self, inner: Reporter, label: str) -> None:
        self.inner, self.label = inner, label

    def begin(self, framework: str) -> None:
        self.inner.begin(f"{framework} {self.label}")

    def record(self, framework: str, record: dict[str, Any]) -> None:
        self.inner.record(f"{framework} {self.label}", record)

    def end(self, framework: str, outcome: str) -> None:
        self.inner.end(f"{framework} {self.label}", outcome)

    def close(self) -> None:
        pass


Analyze = Callable[[Path], list[dict[str, str]]]


def analyzer(cases: Mapping[str, Case], cases_dir: Path) -> Analyze:
    """The analysis of one release's runs, reduced to its behaviour rows."""
    def analyze_runs(runs_dir: Path) -> list[dict[str, str]]:
        from conformance.compare.analyze import analyze
        from conformance.compare.load import load_runs
        from conformance.history.changes import behaviour_rows

        runs = [r for r in load_runs(runs_dir) if not r.error]
        return behaviour_rows(analyze(runs, cases, cases_dir).discrepancies) if runs else []
    return analyze_runs


def run_release(plan: Plan, release: Release, installer: Installer, analyze: Analyze, *,
                progress: Reporter | None = None, log: Log = _stderr) -> Entry:
    """Install one release, run its frameworks, analyze and store the outcome."""
    from conformance.orchestrate import run_all

    label = f"{release.package} {release.version}"
    entry = Entry(release.package, release.version, release.pins, plan.frameworks,
                  plan.key(release), plan.suite_version, plan.case_set)
    if release.skip:
        entry.status, entry.reason = release.skip_status or UNPAIRED, release.skip
        log(f"{label}: not run: {entry.reason}")
        save(plan.out, entry)
        return entry
    entry.bounds = companion_bounds(plan.env.packages, release.pins)
    venv = plan.envs_dir / slug(release.pins)
    try:
        done = installer.install(venv, (*release.pins, *entry.bounds))
        entry.install_seconds = round(done.seconds, 1)
        if not done.ok:
            entry.status, entry.reason = INSTALL_FAILED, done.reason
            log(f"{label}: cannot be installed here: {done.reason}")
            save(plan.out, entry)
            return entry
        entry.companions = companions(done.versions, plan.env.packages, release.pins)
        log(f"{label}: installed in {done.seconds:.0f} s with {entry.companions_text()}")
        where = entry_dir(plan.out, release.pins)
        shutil.rmtree(where / "runs", ignore_errors=True)
        t0 = time.perf_counter()
        runs = run_all([(fw, done.python) for fw in plan.frameworks], plan.cases_dir,
                       where / "runs", plan.case_timeout, len(plan.frameworks),
                       log_dir=where / "logs",
                       progress=_Labelled(progress, release.version) if progress else None)
        entry.run_seconds = round(time.perf_counter() - t0, 1)
        failed = [f"{r.framework}: {r.import_error}" for r in runs if r.import_error]
        wrong = [w for r in runs if r.run_dir is not None and not r.import_error
                 for w in [wrong_version(r.framework, r.run_dir, release.pins)] if w]
        if len(failed) == len(runs):
            entry.status, entry.reason = IMPORT_FAILED, "; ".join(failed)
        elif wrong:
            entry.status, entry.reason = RUN_FAILED, "; ".join(wrong)
        else:
            entry.behaviours = analyze(where / "runs")
            entry.status, entry.reason = OK, "; ".join(failed)
    except Exception as exc:  # one release's trouble must not stop the history
        entry.status, entry.reason = RUN_FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        if not plan.keep_envs:
            installer.remove(venv)
    if _INTERRUPTED.is_set():
        return entry
    log(f"{label}: {entry.status}" + (f" ({entry.reason})" if entry.reason else "")
        + f", install {entry.install_seconds:.0f} s, run {entry.run_seconds:.0f} s")
    save(plan.out, entry)
    return entry


def run_history(plan: Plan, releases: list[Release], installer: Installer, analyze: Analyze,
                *, progress: Reporter | None = None, log: Log = _stderr) -> list[Entry]:
    """Every release's entry, oldest first; stored ones with the same key are reused."""
    _INTERRUPTED.clear()
    entries: dict[str, Entry] = {}
    todo = []
    for release in releases:
        old = is_done(plan.out, release.pins, plan.key(release))
        if old is not None:
            entries[release.version] = old
            log(f"{release.package} {release.version}: already run with this key "
                f"({old.status}): kept")
        else:
            todo.append(release)
    if todo:
        log(f"{len(todo)} of {len(releases)} releases to run, {plan.jobs} at a time")
    pool = ThreadPoolExecutor(max_workers=max(1, plan.jobs))
    try:
        futures = [pool.submit(run_release, plan, r, installer, analyze, progress=progress,
                               log=log) for r in todo]
        for release, future in zip(todo, futures, strict=True):
            entries[release.version] = future.result()
    except BaseException:  # Ctrl-C: no worker of any release may outlive the history
        from conformance.orchestrate import stop_all

        _INTERRUPTED.set()  # releases in flight store nothing: they run again next time
        stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [entries[r.version] for r in releases]
