"""Per-channel tolerances: conditioning per channel, the 1e-2 rule, broadcasting per output."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conformance.cases import generate, inputs_for
from conformance.cases.families import _bn
from conformance.cases.model import DECISIVE_TOLERANCE, Case, Tolerance
from conformance.cases.tolerances import channel_tolerance, tolerance_for
from conformance.compare.errors import compare
from conformance.oracle import batchnorm as bn


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate()


def test_no_default_case_is_wider_than_the_rule_unless_informational(cases: list[Case]) -> None:
    wide = [c.id for c in cases if c.tolerance.worst > DECISIVE_TOLERANCE and not c.informational]
    assert wide == []
    assert any(c.informational for c in cases)  # the rule has a visible exception


def test_generate_refuses_a_wide_case_not_marked_informational() -> None:
    with pytest.raises(ValueError, match="informational"):
        _bn("probe", dtype="float32", offset=1e4, spread=1e-2, rank=2, batch=64)
    assert _bn("probe", dtype="float32", offset=1e4, spread=1e-2, rank=2, batch=64,
               informational="why").informational == "why"


def test_an_ill_conditioned_channel_does_not_widen_the_others() -> None:
    tol = channel_tolerance("float32", 64, [0.5, 0.5, 0.5], [1.0, 1e-5, 1.0], 1e-5)
    out = {g: a for g, _, a in tol.channels}["output"]
    assert out[1] > 10 * out[0]
    assert out[0] == pytest.approx(out[2])
    assert tol.atol == max(max(a) for _, _, a in tol.channels)  # worst case kept for callers


def test_epsilon_dominated_channel_is_insensitive_to_variance_roundoff() -> None:
    # A far-from-zero mean with a spread below sqrt(eps): only the mean's error matters,
    # so the bound is far below what dividing by the spread would give.
    tol = channel_tolerance("float32", 64, [1.0], [1e-5], 1e-3)
    out = {g: a for g, _, a in tol.channels}["output"][0]
    assert out < 1e-3


def test_half_precision_bounds_come_from_float32_accumulation_plus_rounding() -> None:
    f16 = channel_tolerance("float16", 8192, [0.0], [1.0], 1e-5)
    f32 = channel_tolerance("float32", 8192, [0.0], [1.0], 1e-5)
    assert 2**-11 <= f16.worst <= 4 * 2**-11  # a couple of float16 roundings, no more
    assert f32.worst < f16.worst / 2  # the output rounding dominates


@pytest.mark.parametrize(("key", "ndim_extra", "channel_shift"),
                         [("y_train", 1, 1), ("y_eval", 0, 0), ("frozen_train", 0, 0)])
def test_output_bounds_vary_along_the_channel_axis(key: str, ndim_extra: int,
                                                   channel_shift: int) -> None:
    for layout in ("first", "last"):
        case = _bn("probe", layout=layout, special="tiny_variance", channels=4, batch=8)
        tol = tolerance_for(case, key)
        assert isinstance(tol.atol, np.ndarray)
        assert tol.atol.ndim == len(case.shape) + ndim_extra
        assert tol.atol.shape[case.channel_axis + channel_shift] == 4
        assert tol.atol.size == 4


def test_running_statistic_bounds_broadcast_against_steps_by_channels() -> None:
    case = _bn("probe", special="tiny_variance", channels=4, steps=3)
    for key in ("running_mean", "running_var"):
        tol = tolerance_for(case, key)
        assert np.broadcast_shapes(np.shape(tol.atol), (3, 4)) == (3, 4)
    assert np.shape(tolerance_for(case, "mean_after_forward").atol) == (4,)


def test_unknown_keys_and_dropout_get_the_case_tolerance(cases: list[Case]) -> None:
    drop = next(c for c in cases if c.op == "dropout")
    assert tolerance_for(drop, "y_train") == drop.tolerance
    bnc = next(c for c in cases if c.op == "batchnorm")
    assert tolerance_for(bnc, "batch_var_returned") == bnc.tolerance


def test_per_channel_bound_catches_an_error_the_worst_case_hides() -> None:
    # An error in a well-conditioned channel, of the size the tiny channel is allowed.
    case = _bn("probe", dtype="float32", special="tiny_variance", rank=2, batch=32,
               channels=4, epsilon=1e-8)
    x = inputs_for(case)
    y = bn.training_output(x["train"][0], 1, 1e-8, x["gamma"], x["beta"], bn.Conventions())
    wrong = y.copy()
    wrong[:, 0] += 0.5 * float(np.max(case.tolerance.atol))
    assert compare(wrong, y, case.tolerance).passed
    assert not compare(wrong[None], y[None], tolerance_for(case, "y_train")).passed


def test_sound_float32_arithmetic_passes_its_bounds(cases: list[Case]) -> None:
    # The oracle's formula evaluated in float32 (two-pass moments) is a sound float32
    # implementation: every decisive float32 case must accept it.
    for case in (c for c in cases if c.op == "batchnorm" and c.dtype == "float32"
                 and not c.informational):
        x = inputs_for(case)
        eps = 1e-5 if case.get("epsilon") == "default" else float(case.get("epsilon"))  # type: ignore[arg-type]
        axes = bn.reduce_axes(x["train"].ndim - 1, case.channel_axis)
        x0 = x["train"][0]
        mean = x0.mean(axis=axes, keepdims=True, dtype=np.float32)
        var = ((x0 - mean) ** 2).mean(axis=axes, keepdims=True, dtype=np.float32)
        shape = [1] * x0.ndim
        shape[case.channel_axis] = -1
        y32 = ((x0 - mean) / np.sqrt(var + np.float32(eps)) * x["gamma"].reshape(shape)
               + x["beta"].reshape(shape))
        y = bn.training_output(x0, case.channel_axis, eps, x["gamma"], x["beta"],
                               bn.Conventions())
        assert compare(y32, y, tolerance_for(case, "y_eval")).passed, case.id


def test_manifest_round_trip_keeps_per_channel_bounds_and_informational(
        cases: list[Case]) -> None:
    for case in cases:
        back = Case.from_json(case.to_json())
        assert back == case
        assert back.tolerance.channels == case.tolerance.channels
        assert back.informational == case.informational
    plain = Tolerance.from_json({"rtol": 1e-3, "atol": 2e-3})  # records before channels
    assert plain.channels == () and plain.worst == 2e-3


def test_describe_is_key_value_words_with_worst_and_median() -> None:
    case = _bn("probe", special="tiny_variance", channels=4, rank=2, batch=32)
    text = tolerance_for(case, "y_eval").describe()
    words = dict(w.split("=") for w in text.split())
    assert set(words) == {"rtol", "atol", "median_rtol", "median_atol"}
    inference = {g: a for g, _, a in case.tolerance.channels}["inference"]
    assert float(words["atol"]) == pytest.approx(max(inference), rel=1e-2)
    assert float(words["median_atol"]) < float(words["atol"])
    assert Tolerance(1e-3, 2e-3).describe() == "rtol=0.001 atol=0.002"


def test_replicas_draw_their_own_bounds(cases: list[Case]) -> None:
    base = list(generate(["bn_variance"], scale=2))
    original, replica = base[0], base[len(base) // 2]
    assert replica.get("replica") == 1
    assert replica.tolerance != original.tolerance
    assert dataclasses.replace(replica, tolerance=original.tolerance) != original
