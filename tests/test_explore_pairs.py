"""Oracle (b): equivalent forms must agree in status and value."""

from __future__ import annotations

import numpy as np

from conformance.explore import sampler
from conformance.explore.oracles import _compare_pair, same_defaults
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


def test_dropout_pairs_ignore_an_all_dropped_mask_but_not_an_error() -> None:
    pair = Pair("torch", "a", "torch", "b", "dropout", ("y_eval",), "test")
    case = sampler.dropout_case({"shape": (2,), "dtype": "float32", "rate": 0.5,
                                 "noise_shape": None})
    ok, err = {"status": "ok"}, {"status": "error", "error": {"type": "E", "message": "m"}}
    zeros, x = {"y_train": np.zeros(2)}, {"y_train": np.ones(2)}
    assert _compare_pair(pair, case, ok, zeros, ok, x) == []
    assert _compare_pair(pair, case, ok, zeros, err, {})[0][0] == "status output vs raises"


def test_informational_cases_compare_finiteness_not_values() -> None:
    wide = sampler.bn_case({"shape": (4, 2), "channel_axis": "first", "dtype": "float32",
                            "momentum": 1e5, "epsilon": 1e-3, "steps": 1, "offset": 0.0,
                            "spread": 1.0, "special": "none", "poison": "none"})
    assert wide.informational
    ok = {"status": "ok"}
    assert _compare_pair(PAIR, wide, ok, {"y_train": Y}, ok, {"y_train": Y * 2}) == []
    nan = Y.copy()
    nan[0, 0, 0] = np.nan
    assert _compare_pair(PAIR, wide, ok, {"y_train": Y}, ok, {"y_train": nan})


def test_forms_with_different_defaults_are_compared_only_on_explicit_values() -> None:
    conv = {"a": {"epsilon_default": "1e-05"}, "b": {"epsilon_default": "0.001"}}

    def of(fw: str, base: str, op: str) -> dict[str, str]:
        return conv[base]

    explicit = CASE
    default = sampler.bn_case({**dict(CASE.params), "epsilon": "default"})
    assert same_defaults(PAIR, explicit, of) and not same_defaults(PAIR, default, of)
