"""Command line of the explorer (see ``conformance.explore.main``)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.environments import ADAPTERS, ENV_BY_NAME
from conformance.explore.main import UsageError, explore, parse_budget


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance.explore",
                                description="explore configurations beyond the matrix")
    p.add_argument("--budget", default="10m", help="wall time over all envs (600, 90s, 10m)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--framework", action="append", default=[],
                   help="only these frameworks (repeatable)")
    p.add_argument("--env", action="append", default=[], metavar="ENV=PYTHON",
                   help=f"environment and its python; names: {', '.join(ENV_BY_NAME)}")
    p.add_argument("--count", type=int, default=120, help="configurations to draw")
    p.add_argument("--conventions", type=Path, default=None,
                   help="measured conventions: a folder of convention cards (default "
                        "reports/cards, whose defaults are exact), or a discrepancies.csv "
                        "(default when there are no cards)")
    p.add_argument("--known", type=Path, default=Path("explore/known.toml"))
    p.add_argument("--out", default="reports/explore")
    p.add_argument("--work", default="", help="scratch folder (default: a new temp dir)")
    p.add_argument("--jobs", type=int, default=0,
                   help="workers at a time (default: all, so each shares the budget)")
    p.add_argument("--case-timeout", type=float, default=120.0)
    p.add_argument("--shrink-rounds", type=int, default=4)
    p.add_argument("--shrink-limit", type=int, default=40)
    return p


def _envs(pairs: list[str], only: list[str]) -> dict[str, str]:
    envs: dict[str, str] = {}
    for item in pairs:
        name, sep, python = item.partition("=")
        if not sep or name not in ENV_BY_NAME:
            raise UsageError(f"--env {item!r}: expected ENV=PYTHON with ENV one of "
                             f"{', '.join(ENV_BY_NAME)}")
        if python.startswith("!"):  # an environment that could not be built: said, not hidden
            print(f"explore: environment {name} not explored ({python[1:].strip() or 'not built'})",
                  file=sys.stderr)
            continue
        envs.update(dict.fromkeys(ENV_BY_NAME[name].frameworks, python))
    unknown = [f for f in only if f not in ADAPTERS]
    if unknown:
        raise UsageError(f"--framework {unknown[0]!r}: known: {', '.join(ADAPTERS)}")
    if only:
        envs = {k: v for k, v in envs.items() if k in only}
    if not envs:
        raise UsageError("no framework to explore (pass --env ENV=PYTHON)")
    return envs


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the orchestrator kills its workers' process groups


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    args = _parser().parse_args(argv)
    try:
        parse_budget(args.budget)
        if args.count < 1:
            raise UsageError("--count must be at least 1")
        return explore(args, _envs(args.env, args.framework))
    except (UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
