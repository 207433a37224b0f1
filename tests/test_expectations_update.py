"""`expectations update`: keeps reviews that still hold, marks the rest, migrates old files."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from conformance.expectations import (
    UNREVIEWED,
    Measured,
    Measurement,
    gate,
    load_dir,
    load_file,
    update,
)

REPO_EXPECTATIONS = Path(__file__).resolve().parent.parent / "expectations"

# A file as the writer before `documented`/`agrees` were gated left it: `documented`
# omitted when empty, the old header; plus one hand-written entry without `agrees`.
LEGACY = '''\
# Reviewed expectations for torch: the actual value of every behaviour row.
framework = "torch"
versions = "==2.13.0"
measured = "2.13.0"

[[expect]]
implementation = "torch.nn.BatchNorm2d"
behaviour = "momentum_default"
actual = "0.1"
documented = "0.1"
agrees = "yes"
reason = "as documented"
source = "signature: BatchNorm2d(momentum=...)"

[[expect]]
implementation = "torch.nn.BatchNorm2d"
behaviour = "batch_size_one_training"
actual = "error"
agrees = "undocumented"
reason = "raises ValueError: a batch of one has no variance"
source = "https://example.org/bn"

[[expect]]
implementation = "torch.nn.BatchNorm2d"
behaviour = "normalize_variance"
actual = "biased"
documented = "biased"
agrees = "yes"
reason = "reviewed: the docstring says biased"
source = "https://example.org/biased"

[[expect]]
implementation = "torch.nn.Dropout"
behaviour = "rate_one"
actual = "zeros"
reason = "reviewed by hand, agrees never recorded"
source = "https://example.org/dropout"
'''


def measured(**agrees: str) -> list[Measured]:
    return [
        Measured("torch", "2.13.0", "torch.nn.BatchNorm2d", "momentum_default", "0.1", "yes",
                 "0.1", "signature"),
        Measured("torch", "2.13.0", "torch.nn.BatchNorm2d", "batch_size_one_training", "error",
                 "undocumented"),
        Measured("torch", "2.13.0", "torch.nn.BatchNorm2d", "normalize_variance", "biased",
                 agrees.get("normalize_variance", "yes"), "biased", "https://docs/x"),
        Measured("torch", "2.13.0", "torch.nn.Dropout", "rate_one", "zeros", "undocumented"),
    ]


def apply(root: Path, rows: list[Measured]) -> dict[Path, tuple[str, str]]:
    changes = update(Measurement(rows), load_dir(root), root)
    for path, (_, new) in changes.items():
        path.write_text(new)
    return changes


def test_legacy_file_migrates_keeping_every_reason(tmp_path: Path) -> None:
    (tmp_path / "torch.toml").write_text(LEGACY)
    before = load_file(tmp_path / "torch.toml").entries
    failed = [c for c in gate(Measurement(measured()), load_dir(tmp_path)) if c.failed]
    # Only the entry that never recorded agrees fails, and it says so.
    assert [(c.behaviour, [d.field for d in c.diffs]) for c in failed] == [
        ("rate_one", ["agrees"])]
    apply(tmp_path, measured())
    after = load_file(tmp_path / "torch.toml").entries
    assert {k: (e.reason, e.source) for k, e in after.items()} == {
        k: (e.reason, e.source) for k, e in before.items()}
    assert after[("torch.nn.Dropout", "rate_one")].agrees == "undocumented"
    text = (tmp_path / "torch.toml").read_text()
    assert 'documented = ""' not in text and text.count("documented =") == 2
    assert not [c for c in gate(Measurement(measured()), load_dir(tmp_path)) if c.failed]


def test_flipped_agrees_is_marked_unreviewed_with_what_it_was(tmp_path: Path) -> None:
    (tmp_path / "torch.toml").write_text(LEGACY)
    rows = measured(normalize_variance="unverified")
    changes = apply(tmp_path, rows)
    e = load_file(tmp_path / "torch.toml").entries[("torch.nn.BatchNorm2d",
                                                    "normalize_variance")]
    assert e.agrees == "unverified"
    assert e.reason == (f"{UNREVIEWED}: was agrees 'yes' "
                        "(reviewed: the docstring says biased)")
    assert e.source == "https://example.org/biased"  # the reviewed link survives
    old, new = changes[tmp_path / "torch.toml"]
    assert 'agrees = "unverified"' in new and 'agrees = "unverified"' not in old
    assert not [c for c in gate(Measurement(rows), load_dir(tmp_path)) if c.failed]


def test_agreeing_again_is_as_documented(tmp_path: Path) -> None:
    (tmp_path / "torch.toml").write_text(LEGACY)
    apply(tmp_path, measured(normalize_variance="unverified"))
    apply(tmp_path, measured())
    e = load_file(tmp_path / "torch.toml").entries[("torch.nn.BatchNorm2d",
                                                    "normalize_variance")]
    assert (e.agrees, e.reason, e.source) == ("yes", "as documented", "https://docs/x")


@pytest.mark.parametrize("path", sorted(REPO_EXPECTATIONS.glob("*.toml")), ids=lambda p: p.stem)
def test_the_repository_files_migrate_without_losing_a_review(path: Path,
                                                              tmp_path: Path) -> None:
    """Measured exactly as recorded, the committed files keep every value and reason."""
    version = tomllib.loads(path.read_text())["measured"]
    f = load_file(path)
    rows = [Measured(f.framework, version, e.implementation, e.behaviour, e.actual, e.agrees,
                     e.documented) for e in f.entries.values()]
    (tmp_path / path.name).write_text(path.read_text())
    apply(tmp_path, rows)
    assert load_file(tmp_path / path.name).entries == f.entries
    assert not [c for c in gate(Measurement(rows), load_dir(tmp_path)) if c.failed]


def test_a_reviewed_reason_is_not_replaced_by_boilerplate(tmp_path: Path) -> None:
    """A new claim that makes a reviewed row agree still asks for a review: the old
    reason may say "undocumented", which is no longer true."""
    (tmp_path / "torch.toml").write_text(LEGACY)
    rows = [Measured(*(r.framework, r.version, r.implementation, r.behaviour, r.actual),
                     "yes", "error", "https://docs/bn")
            if r.behaviour == "batch_size_one_training" else r for r in measured()]
    apply(tmp_path, rows)
    e = load_file(tmp_path / "torch.toml").entries[("torch.nn.BatchNorm2d",
                                                    "batch_size_one_training")]
    assert (e.documented, e.agrees) == ("error", "yes")
    assert e.reason == (f"{UNREVIEWED}: was documented '', agrees 'undocumented' "
                        "(raises ValueError: a batch of one has no variance)")
