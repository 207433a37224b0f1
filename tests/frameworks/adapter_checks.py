"""Checks every framework's adapter tests make, written once."""

from __future__ import annotations

from collections.abc import Sequence

from conformance.adapters.base import Adapter, Unsupported
from conformance.cases import inputs_for
from conformance.cases.model import Case


def assert_every_implementation_runs(adapter: Adapter, cases: Sequence[Case],
                                     per_implementation: int = 2) -> None:
    """Each implementation runs some case of its op and returns training and inference
    outputs (cases it declines are skipped, never counted)."""
    for impl in adapter.implementations():
        ran = 0
        for case in cases:
            if case.op != impl.op or impl.supports(case) is not None:
                continue
            try:
                adapter.seed(case.seed)
                out = impl.run(case, inputs_for(case))
            except Unsupported:
                continue
            assert "y_train" in out and "y_eval" in out, impl.name
            ran += 1
            if ran == per_implementation:
                break
        assert ran, impl.name


def assert_claims_verified(adapter: Adapter, at_least: int) -> None:
    """Every documented claim's quote is still in the installed docstring."""
    claims = adapter.documented()
    assert len(claims) >= at_least
    stale = [c for c in claims if c.verified is False]
    assert not stale, stale
