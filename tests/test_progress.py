"""Progress of a run: the tally fed fake records, both reporters, and a real run's records."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import generate, materialize
from conformance.orchestrate import run_all
from conformance.progress import (
    LiveReporter,
    LogReporter,
    Tally,
    family_of,
    format_seconds,
    reporter,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plan(total: int, done: int = 0) -> dict[str, Any]:
    return {"kind": "plan", "total": total, "done": done}


def start(case_id: str) -> dict[str, Any]:
    return {"kind": "start", "case_id": case_id, "base": "bn", "implementation": "bn",
            "op": "batchnorm"}


RESULT: dict[str, Any] = {"kind": "result", "status": "ok"}


def test_family_is_the_case_id_without_its_hash_and_times_read_as_minutes() -> None:
    assert family_of("bn_train_momentum-0123456789") == "bn_train_momentum"
    assert [format_seconds(s) for s in (0.4, 59.6, 65)] == ["0 s", "1 min 00 s", "1 min 05 s"]


def test_tally_counts_and_estimates_from_its_own_rate() -> None:
    t = Tally("keras", started=10.0)
    t.feed({"kind": "header"}, 10.5)
    assert t.eta(11.0) is None  # no plan yet
    t.feed(plan(8, done=2), 12.0)  # imported at 12 s; a resumed run: two results were there
    assert t.eta(13.0) is None  # none of its own yet
    t.feed(start("dropout_p-0123456789"), 12.0)
    t.feed(RESULT, 13.0)
    t.feed(RESULT, 14.0)
    assert (t.done, t.total, t.percent, t.family) == (4, 8, 50, "dropout_p")
    assert t.eta(14.0) == pytest.approx(2 / 2 * 4)  # 2 results in 2 s since the import, 4 left
    assert t.line(14.0) == ("keras       4/8 results (50 %), family dropout_p, 4 s elapsed, "
                            "ETA 4 s")
    t.finish("ok", 18.0)
    assert t.eta(18.0) is None
    assert t.state(30.0) == "ok after 8 s"


def test_a_restart_plan_resets_the_count_and_the_count_never_passes_the_total() -> None:
    t = Tally("torch", started=0.0)
    t.feed(plan(3), 0.0)
    for _ in range(5):
        t.feed(RESULT, 1.0)
    assert t.done == 3
    t.feed(plan(3, done=2), 2.0)  # after a crash the worker recounts from its results file
    assert t.done == 2
    t.feed({"kind": "plan", "total": "x"}, 3.0)  # not ours: ignored
    assert (t.done, t.total) == (2, 3)


def test_log_reporter_prints_each_quarter_once_and_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    rep = LogReporter(out, clock)
    rep.begin("keras")
    rep.record("keras", plan(8))
    for i in range(8):
        clock.now += 1
        rep.record("keras", start(f"bn_fam{i // 4}-0123456789"))
        rep.record("keras", RESULT)
    clock.now += 0.4
    rep.end("keras", "ok")
    lines = out.getvalue().splitlines()
    assert lines == [
        "progress: keras       2/8 results (25 %), family bn_fam0, 2 s elapsed, ETA 6 s",
        "progress: keras       4/8 results (50 %), family bn_fam0, 4 s elapsed, ETA 4 s",
        "progress: keras       6/8 results (75 %), family bn_fam1, 6 s elapsed, ETA 2 s",
        "progress: keras       8/8 results (100 %), ok after 8 s",
    ]


def test_log_reporter_jumps_quarters_and_reports_a_framework_that_never_started() -> None:
    out, clock = io.StringIO(), Clock()
    rep = LogReporter(out, clock)
    rep.begin("mxnet")
    rep.record("mxnet", plan(4, done=3))  # resumed at 75 %: one line, not three
    rep.end("mxnet", "1 restart(s)")
    rep.begin("tensorflow")
    rep.end("tensorflow", "ERROR ImportError: no tensorflow")
    assert out.getvalue().splitlines() == [
        "progress: mxnet       3/4 results (75 %), 0 s elapsed",
        "progress: mxnet       3/4 results (75 %), 1 restart(s) after 0 s",
        "progress: tensorflow  0 results, ERROR ImportError: no tensorflow after 0 s",
    ]


def test_live_reporter_draws_one_line_per_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # rich sizes a non-terminal stream from COLUMNS
    out, clock = io.StringIO(), Clock()
    rep = LiveReporter(["numpy", "keras"], out, clock)
    try:
        rep.begin("keras")
        rep.record("keras", plan(480))
        clock.now = 12.0
        rep.record("keras", start("bn_train-0123456789"))
        for _ in range(120):
            rep.record("keras", RESULT)
        rep.refresh()
        frame = out.getvalue()
        assert "120/480" in frame
        assert "family bn_train, 12 s elapsed, ETA 36 s" in frame
        assert "waiting" in frame  # numpy has not begun
        rep.end("keras", "ok")
        rep.refresh()
        assert "ok after 12 s" in out.getvalue()
    finally:
        rep.close()


def test_reporter_mode_follows_the_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(reporter(["numpy"], io.StringIO()), LogReporter)
    assert reporter(["numpy"], io.StringIO(), "off") is None
    assert isinstance(reporter(["numpy"], Tty(), "log"), LogReporter)
    live = reporter(["numpy"], Tty())
    assert isinstance(live, LiveReporter)
    live.close()


def test_a_real_run_reports_every_result_and_its_faults(tmp_path: Path) -> None:
    """The worker's plan and results reach the reporter; a crash still ends at 100 %."""
    cases = [c for c in generate() if c.op == "batchnorm"][:4]
    materialize(cases, tmp_path / "cases")
    faulty = tmp_path / "python-faulty"
    faulty.write_text(f"#!/bin/sh\nCONFORMANCE_FAULTS='segv@{cases[1].id}' "
                      f"exec {sys.executable} \"$@\"\n")
    faulty.chmod(0o755)
    out = io.StringIO()
    rep = LogReporter(out)
    (run,) = run_all([("numpy", str(faulty))], tmp_path / "cases", tmp_path / "runs", 30, 1,
                     progress=rep)
    assert run.restarts == 1
    tally = rep.tallies["numpy"]
    assert tally.total is not None and tally.total >= 4
    assert tally.done == tally.total
    last = out.getvalue().splitlines()[-1]
    assert last.startswith(f"progress: numpy       {tally.total}/{tally.total} results (100 %)")
    assert ", 1 restart(s) after " in last
