"""The explorer's command line: bad input is one line and exit status 2."""

from __future__ import annotations

import pytest

from conformance.explore.__main__ import main
from conformance.explore.main import UsageError, parse_budget


def test_budget_units() -> None:
    assert parse_budget("10m") == 600 and parse_budget("90s") == 90 and parse_budget("5") == 5
    with pytest.raises(UsageError):
        parse_budget("ten minutes")


@pytest.mark.parametrize("argv", [["--budget", "x"], ["--env", "nope=/x"],
                                  ["--env", "torch=/x", "--framework", "nope"], []])
def test_bad_input_exits_2_with_one_line(argv: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
