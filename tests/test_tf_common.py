"""Deferred seeding of the TensorFlow adapters (pure Python: no TensorFlow needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.adapters import _tf_common


@pytest.fixture(autouse=True)
def _nothing_pending() -> Iterator[None]:
    _tf_common._deferred.clear()
    yield
    _tf_common._deferred.clear()


def test_recorded_seeding_runs_once_when_applied() -> None:
    done: list[int] = []
    _tf_common.defer_seed(lambda: done.append(1))
    assert done == []
    _tf_common.apply_deferred_seed()
    _tf_common.apply_deferred_seed()
    assert done == [1]


def test_a_later_record_replaces_an_unused_one() -> None:
    done: list[int] = []
    _tf_common.defer_seed(lambda: done.append(1))
    _tf_common.defer_seed(lambda: done.append(2))
    _tf_common.apply_deferred_seed()
    assert done == [2]


def test_applying_with_nothing_recorded_does_nothing() -> None:
    _tf_common.apply_deferred_seed()
