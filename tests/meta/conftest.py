"""One planted run per session: every plant is an implementation row of one run."""

from __future__ import annotations

import pytest

from conformance.cases import generate, materialize
from conformance.compare.analyze import Analysis

from .harness import Table, run_and_analyze, table
from .planted import PlantedAdapter
from .plants import PLANTS


@pytest.fixture(scope="session")
def planted_analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """The real default case set, materialized once, run by every plant, analysed once."""
    root = tmp_path_factory.mktemp("meta")
    cases = generate()
    materialize(cases, root / "cases")
    adapter = PlantedAdapter([p.implementation() for p in PLANTS])
    return run_and_analyze(adapter, cases, root / "cases", root / "runs")


@pytest.fixture(scope="session")
def inferred(planted_analysis: Analysis) -> Table:
    return table(planted_analysis)
