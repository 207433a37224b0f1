"""Claims files parse, name known behaviours and allowed values, and cite a source."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.adapters.documented import CLAIMS_DIR, load_claims, verified_claims
from conformance.spec import FRAMEWORKS, is_allowed


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_claims_are_well_formed(framework: str) -> None:
    for claim in load_claims(framework):
        assert is_allowed(claim["behaviour"], str(claim["value"])), claim
        assert claim["source"], claim
        assert "docstring" in claim or claim["source"].startswith("https://"), claim


def test_every_claims_file_is_for_a_known_framework() -> None:
    assert {p.stem for p in CLAIMS_DIR.glob("*.toml")} <= set(FRAMEWORKS)


def test_oracle_claims_are_verified_against_its_docstring() -> None:
    claims = verified_claims("numpy")
    assert claims and all(c.verified for c in claims)


def test_a_stale_quote_is_unverified(tmp_path: Path) -> None:
    (tmp_path / "numpy.toml").write_text(
        '[[claim]]\nimplementation = "conformance.oracle.dropout"\nbehaviour = "rate_zero"\n'
        'value = "identity"\nsource = "x"\ndocstring = "conformance.adapters.numpy_ref"\n'
        'quote = "this sentence is not in the docstring"\n')
    (claim,) = verified_claims("numpy", claims_dir=tmp_path)
    assert claim.verified is False


def test_malformed_claims_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "torch.toml").write_text('[[claim]]\nbehaviour = "no_such_behaviour"\n'
                                         'implementation="x"\nvalue="1"\nsource="s"\n')
    with pytest.raises(ValueError, match=r"torch\.toml.*unknown behaviour"):
        load_claims("torch", tmp_path)
