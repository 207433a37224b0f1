"""Oracle (b): equivalent forms must agree in status and value."""

from __future__ import annotations

import numpy as np

from conformance.explore import sampler
from conformance.explore.oracles import _compare_pair
from conformance.explore.pairs import PAIRS, Pair, pairs_for, status_class
from conformance.spec import FRAMEWORKS

PAIR = Pair("torch", "a", "torch", "b", "batchnorm", ("y_train",), "test")
CASE = sampler.bn_case({"shape": (4, 2), "channel_axis": "first", "dtype": "float32",
                        "momentum": 0.1, "epsilon": 1e-3, "steps": 1, "offset": 0.0,
                        "spread": 1.0, "special": "none", "poison": "none"})
Y = np.arange(8.0).reshape(1, 4, 2)


def test_status_classes() -> None:
    ok = {"status": "ok"}
    assert status_class({"status": "error"}, None) == "raises"
    assert status_class({"status": "crash"}, None) == "crash"
    assert status_class(ok, {"y_train": np.array([1.0, np.nan])}) == "nan"
    assert status_class(ok, {"y_train": np.zeros(3)}) == "zeros"
    assert status_class(ok, {"y_train": Y}) == "output"


def test_status_and_value_disagreements() -> None:
    ok, err = {"status": "ok"}, {"status": "error", "error": {"type": "E", "message": "m"}}
    assert _compare_pair(PAIR, CASE, ok, {"y_train": Y}, ok, {"y_train": Y}) == []
    (status,) = _compare_pair(PAIR, CASE, ok, {"y_train": Y}, err, {})
    assert status[0] == "status output vs raises" and "E: m" in status[1]
    (value,) = _compare_pair(PAIR, CASE, ok, {"y_train": Y}, ok, {"y_train": Y * 1.01})
    assert value[0] == "y_train"
    assert _compare_pair(PAIR, CASE, {"status": "unsupported"}, {}, err, {}) == []


def test_table_names_real_frameworks_and_filters_by_what_ran() -> None:
    assert {p.framework_a for p in PAIRS} | {p.framework_b for p in PAIRS} <= set(FRAMEWORKS)
    only_torch = pairs_for(["torch"])
    assert only_torch and all(p.framework_b == "torch" for p in only_torch)
