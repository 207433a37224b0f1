"""Claims files parse, name known behaviours and allowed values, and cite a pinned source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.adapters.documented import CLAIMS_DIR, load_claims, verified_claims
from conformance.compare.agreement import doc_agreement
from conformance.environments import environment_of
from conformance.spec import FRAMEWORKS, is_allowed

REPO = CLAIMS_DIR.parent.parent
# Sources that name the version they quote: the rendered docs of one release, or a
# source line at a release tag. Unversioned pages (keras.io, tensorflow.org/api_docs,
# docs.pytorch.org/docs/stable) show whatever is latest and drift from the quote.
PINNED = (
    re.compile(r"^https://docs\.pytorch\.org/docs/(?P<version>\d+\.\d+)/\S+$"),
    re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/blob/v(?P<version>\d+(?:\.\d+)+)/\S+$"),
    re.compile(r"^https://mxnet\.apache\.org/versions/(?P<version>\d+(?:\.\d+)+)/\S+$"),
)


def pinned_version(source: str) -> str | None:
    for pattern in PINNED:
        m = pattern.match(source)
        if m:
            return m.group("version")
    return None


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


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_source_is_pinned_to_the_installed_version(framework: str) -> None:
    """A web source names a version the environment installs; the one documented
    exception is the oracle row, which cites a file of this repository (pinned by
    the commit that holds both)."""
    pins = [p.split("==", 1)[1] for p in environment_of(framework).packages if "==" in p]
    for claim in load_claims(framework):
        source = claim["source"]
        if framework == "numpy":
            assert (REPO / source).is_file(), claim
            continue
        version = pinned_version(source)
        assert version is not None, f"not version-pinned: {source}"
        assert any(pin == version or pin.startswith(version + ".") for pin in pins), (
            f"{source} names {version}; the {framework} environment installs {pins}")


@pytest.mark.parametrize(("source", "version"), [
    ("https://docs.pytorch.org/docs/2.13/generated/torch.nn.BatchNorm2d.html", "2.13"),
    ("https://github.com/keras-team/keras/blob/v3.15.1/keras/src/x.py#L31", "3.15.1"),
    ("https://mxnet.apache.org/versions/1.9.1/api/python/docs/api/x.html#y", "1.9.1"),
    ("https://docs.pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html", None),
    ("https://keras.io/api/layers/normalization_layers/batch_normalization/", None),
    ("https://github.com/keras-team/keras/blob/master/keras/src/x.py", None),
    ("https://www.tensorflow.org/api_docs/python/tf/nn/dropout", None),
])
def test_pinned_version_reads_only_versioned_sources(source: str, version: str | None) -> None:
    assert pinned_version(source) == version


def test_a_stale_quote_makes_the_row_unverified(tmp_path: Path) -> None:
    """From the claims file to the agrees column: a missing quote never says yes or no."""
    (tmp_path / "numpy.toml").write_text(
        '[[claim]]\nimplementation = "conformance.oracle.batch_norm"\n'
        'behaviour = "normalize_variance"\nvalue = "biased"\nsource = "x"\n'
        'docstring = "conformance.adapters.numpy_ref"\nquote = "no longer in the docstring"\n')
    (claim,) = verified_claims("numpy", claims_dir=tmp_path)
    record = claim.to_json()
    assert doc_agreement("normalize_variance", record, "biased") == "unverified"
    assert doc_agreement("normalize_variance", record, "unbiased") == "unverified"
    assert doc_agreement("normalize_variance", {**record, "verified": True},
                         "unbiased") == "no"
