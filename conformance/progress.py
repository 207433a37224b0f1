"""Progress of `conformance run` while it runs, one line per framework.

The orchestrator hands every record a worker echoes to a reporter; the
reporter keeps a :class:`Tally` per framework (results done of the total the
worker's ``plan`` record announced, the case family in progress, elapsed time,
an ETA) and shows it:

- on a terminal, one live line per framework drawn by ``rich`` (updated in
  place; the lines go away at the end, when `conformance run` prints its
  per-framework outcome lines);
- in a log (no terminal, as in CI), one plain line per framework each time it
  passes 25 %, 50 % and 75 %, and one when it ends, so a run that hangs shows
  where it stopped.

Without ``rich`` (a framework env running the CLI) the log reporter is used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol

QUARTERS = (25, 50, 75)


def family_of(case_id: str) -> str:
    """The family part of a case id (``<family>-<10 hex digits>``, see ``Case.id``)."""
    return case_id.rsplit("-", 1)[0]


def format_seconds(seconds: float) -> str:
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


@dataclass
class Tally:
    """What one framework has done so far; fed records in the order the worker echoes them.

    A worker restarted after a fault announces a new ``plan`` whose ``done``
    counts everything already in the results file (faults included), so the
    count never drifts. The ETA is the rate since the first plan (after the
    framework's import; results a resumed run already had are not its work)
    times what is left.
    """

    framework: str
    started: float
    total: int | None = None
    done: int = 0
    family: str = ""
    ended: float | None = None
    outcome: str = ""
    _first_done: int | None = None
    _first_at: float = 0.0

    def feed(self, record: dict[str, Any], now: float) -> None:
        kind = record.get("kind")
        if kind == "plan":
            total, done = record.get("total"), record.get("done")
            if not (isinstance(total, int) and isinstance(done, int)):
                return  # not a plan this suite's workers write; keep what we had
            self.total, self.done = total, done
            if self._first_done is None:
                self._first_done, self._first_at = done, now
        elif kind == "start":
            self.family = family_of(str(record.get("case_id", "")))
        elif kind == "result":
            self.done += 1
            if self.total is not None:
                self.done = min(self.done, self.total)

    def finish(self, outcome: str, now: float) -> None:
        self.outcome, self.ended = outcome, now

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return 100 * self.done // self.total

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate so far; ``None`` until one result has come."""
        if self.total is None or self._first_done is None or self.ended is not None:
            return None
        made = self.done - self._first_done
        if made <= 0:
            return None
        return (now - self._first_at) / made * (self.total - self.done)

    def state(self, now: float) -> str:
        """``family bn_train, 12 s elapsed, ETA 37 s`` (or the outcome, once ended)."""
        elapsed = format_seconds((self.ended or now) - self.started)
        if self.ended is not None:
            return f"{self.outcome} after {elapsed}"
        eta = self.eta(now)
        return ((f"family {self.family}, " if self.family else "") + f"{elapsed} elapsed"
                + (f", ETA {format_seconds(eta)}" if eta is not None else ""))

    def line(self, now: float) -> str:
        """``keras       120/480 results (25 %), family bn_train, 12 s elapsed, ETA 37 s``."""
        count = (f"{self.done}/{self.total} results ({self.percent} %)" if self.total
                 else f"{self.done} results")
        return f"{self.framework:<11} {count}, {self.state(now)}"


class Reporter(Protocol):
    """What the orchestrator calls; every method may be called from any worker thread."""

    def begin(self, framework: str) -> None: ...

    def record(self, framework: str, record: dict[str, Any]) -> None: ...

    def end(self, framework: str, outcome: str) -> None: ...

    def close(self) -> None: ...


class LogReporter:
    """Plain lines for logs: one per framework at each quarter passed, one at its end."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.tallies: dict[str, Tally] = {}
        self._shown: dict[str, int] = {}
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def begin(self, framework: str) -> None:
        with self._lock:
            self.tallies[framework] = Tally(framework, self.clock())
            self._shown[framework] = 0

    def record(self, framework: str, record: dict[str, Any]) -> None:
        with self._lock:
            tally = self.tallies[framework]
            tally.feed(record, self.clock())
            percent = tally.percent
            if percent is None or percent >= 100:
                return  # the end line says 100 %
            passed = [q for q in QUARTERS if self._shown[framework] < q <= percent]
            if passed:
                self._shown[framework] = passed[-1]
                self._print(tally.line(self.clock()))

    def end(self, framework: str, outcome: str) -> None:
        with self._lock:
            tally = self.tallies.setdefault(framework, Tally(framework, self.clock()))
            tally.finish(outcome, self.clock())
            self._print(tally.line(self.clock()))

    def close(self) -> None:
        pass


class LiveReporter:
    """One ``rich`` progress line per framework, redrawn in place on a terminal.

    The text after the bar is rendered from the framework's :class:`Tally` at
    every refresh, so elapsed time keeps moving while a case takes long.
    """

    def __init__(self, frameworks: Iterable[str], stream: IO[str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
        )
        from rich.text import Text

        class StateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                tally = task.fields.get("tally")
                text = tally.state(clock()) if isinstance(tally, Tally) else "waiting"
                return Text(text, no_wrap=True, overflow="ellipsis")

        self.clock = clock
        self.tallies: dict[str, Tally] = {}
        self._progress = Progress(
            TextColumn("{task.description:<11}"), BarColumn(bar_width=16),
            MofNCompleteColumn(), StateColumn(),
            console=Console(file=stream, force_terminal=True), transient=True,
            refresh_per_second=4)
        self._tasks = {fw: self._progress.add_task(fw, total=None, start=False)
                       for fw in frameworks}
        self._progress.start()

    def begin(self, framework: str) -> None:
        tally = self.tallies[framework] = Tally(framework, self.clock())
        self._progress.start_task(self._tasks[framework])
        self._progress.update(self._tasks[framework], tally=tally)

    def record(self, framework: str, record: dict[str, Any]) -> None:
        tally = self.tallies[framework]
        tally.feed(record, self.clock())
        self._progress.update(self._tasks[framework], total=tally.total, completed=tally.done)

    def end(self, framework: str, outcome: str) -> None:
        tally = self.tallies.setdefault(framework, Tally(framework, self.clock()))
        tally.finish(outcome, self.clock())
        self._progress.update(self._tasks[framework], tally=tally)
        self._progress.stop_task(self._tasks[framework])

    def refresh(self) -> None:
        """Redraw now rather than at the next tick."""
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()


def reporter(frameworks: Iterable[str], stream: IO[str], mode: str = "auto") -> Reporter | None:
    """``live`` on a terminal (when ``rich`` is installed), ``log`` elsewhere, or ``off``."""
    if mode == "off":
        return None
    if mode == "live" or (mode == "auto" and stream.isatty()):
        try:
            return LiveReporter(frameworks, stream)
        except ImportError:
            pass
    return LogReporter(stream)
