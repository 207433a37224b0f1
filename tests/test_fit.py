"""The fit reports a value only when a case decides it."""

from __future__ import annotations

from conformance.compare.fit import fit, grid, marginal


def _scored(table: dict[tuple[str, str], dict[str, float]]):  # type: ignore[no-untyped-def]
    space = {"a": sorted({k[0] for k in table}), "b": sorted({k[1] for k in table})}
    return fit(grid(space), lambda c: table[(c["a"], c["b"])])


def test_a_decisive_case_earns_the_value() -> None:
    scored = _scored({("x", "p"): {"c1": 0.5, "c2": 0.5}, ("y", "p"): {"c1": 0.5, "c2": 9.0}})
    f = marginal(scored, "a", "a")
    assert f.actual == "x"
    assert f.evidence == ["c2"]


def test_rounding_noise_does_not_break_a_tie() -> None:
    # Both values fit both cases; one has a smaller median error. That decides nothing.
    scored = _scored({("x", "p"): {"c1": 0.0, "c2": 0.0}, ("y", "p"): {"c1": 1e-9, "c2": 0.3}})
    f = marginal(scored, "a", "a")
    assert f.actual == "inconclusive"
    assert "x, y" in f.note


def test_equal_fit_counts_on_different_cases_are_inconclusive() -> None:
    scored = _scored({("x", "p"): {"c1": 0.5, "c2": 9.0}, ("y", "p"): {"c1": 9.0, "c2": 0.5}})
    assert marginal(scored, "a", "a").actual == "inconclusive"


def test_a_case_decides_only_with_the_other_behaviours_held_fixed() -> None:
    # a=x fits c2 only with b=q; a=y with b=q fits c2 too: c2 cannot tell x from y.
    scored = _scored({("x", "p"): {"c1": 9.0, "c2": 9.0}, ("x", "q"): {"c1": 0.5, "c2": 0.5},
                      ("y", "p"): {"c1": 9.0, "c2": 9.0}, ("y", "q"): {"c1": 9.0, "c2": 0.5}})
    f = marginal(scored, "a", "a")
    assert f.actual == "x"
    assert f.evidence == ["c1"]


def test_nothing_fits_or_nothing_ran() -> None:
    assert marginal(_scored({("x", "p"): {"c1": 5.0}, ("y", "p"): {"c1": 7.0}}), "a",
                    "a").actual == "inconclusive"
    assert marginal(_scored({("x", "p"): {}, ("y", "p"): {}}), "a", "a").actual == "not_measured"
