"""One subprocess per environment; a missing or failing one becomes every item's outcome."""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.port.passes import default_python, run_pass

ITEMS = [{"key": "k", "case": "c", "framework": "torch", "implementation": "x"}]


def test_a_missing_environment_is_an_outcome(tmp_path: Path) -> None:
    (a,) = run_pass("export", ITEMS, tmp_path, tmp_path, {})
    assert a["status"] == "error" and "no torch environment" in a["error"]
    assert default_python("torch", tmp_path) is None


def test_an_interpreter_that_fails_is_an_outcome(tmp_path: Path) -> None:
    bad = tmp_path / "python"
    bad.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    bad.chmod(0o755)
    (a,) = run_pass("export", ITEMS, tmp_path, tmp_path, {"torch": str(bad)})
    assert a["status"] == "error" and "exited 3" in a["error"] and "broken" in a["error"]


def test_an_item_the_worker_cannot_run_is_an_outcome(tmp_path: Path) -> None:
    # The worker itself runs; the item (no such portable row, or no torch) is its outcome.
    (tmp_path / "manifest.jsonl").write_text("")
    (a,) = run_pass("export", ITEMS, tmp_path, tmp_path / "w", {"torch": sys.executable})
    assert a["status"] == "error", a
