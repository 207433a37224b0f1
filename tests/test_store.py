"""The case store: the digest that names a case set."""

from __future__ import annotations

from pathlib import Path

from conformance.cases.store import MANIFEST, case_set


def test_case_set_names_the_manifest_content_not_its_line_order(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text('{"id": "a"}\n{"id": "b"}\n')
    first = case_set(tmp_path)
    (tmp_path / MANIFEST).write_text('{"id": "b"}\n{"id": "a"}\n')
    assert case_set(tmp_path) == first
    (tmp_path / MANIFEST).write_text('{"id": "b"}\n{"id": "c"}\n')
    assert case_set(tmp_path) != first
