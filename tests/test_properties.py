"""Property-based tests: the oracle's invariants and the loaders' round trips and refusals."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.adapters.numpy_ref import OracleDropout
from conformance.arrays import load_arrays, save_arrays
from conformance.cases.model import Case, Tolerance
from conformance.cases.store import load_manifest
from conformance.oracle import batchnorm as bn
from conformance.oracle import dropout as do
from conformance.runner import read_records

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=2, max_side=5)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    shape = draw(shapes)
    x = draw(hnp.arrays(np.float64, shape, elements=finite))
    axis = draw(st.sampled_from([1, len(shape) - 1]))
    return x, axis


# --- oracle invariants ----------------------------------------------------------------------

@SETTINGS
@given(batches())
def test_training_output_has_zero_mean_per_channel(batch: tuple[np.ndarray, int]) -> None:
    x, axis = batch
    c = x.shape[axis]
    y = bn.training_output(x, axis, 1e-5, np.ones(c), np.zeros(c), bn.Conventions())
    axes = bn.reduce_axes(x.ndim, axis)
    # |mean| is bounded by roundoff relative to the data's own scale, not absolutely.
    scale = 1.0 + np.abs(x).max() / np.sqrt(np.var(x, axis=axes).min() + 1e-5)
    assert np.all(np.abs(y.mean(axis=axes)) <= 1e-10 * scale)


@SETTINGS
@given(batches(), st.data())
def test_oracle_is_invariant_to_batch_order(batch: tuple[np.ndarray, int],
                                            data: st.DataObject) -> None:
    x, axis = batch
    c = x.shape[axis]
    perm = np.asarray(data.draw(st.permutations(range(x.shape[0]))))
    gamma, beta = np.linspace(0.5, 2.0, c), np.linspace(-1.0, 1.0, c)
    train = np.stack([x, x[::-1]])
    a = bn.sequence(train, x, axis, gamma, beta, 0.1, 1e-3, bn.Conventions())
    b = bn.sequence(train[:, perm], x, axis, gamma, beta, 0.1, 1e-3, bn.Conventions())
    np.testing.assert_allclose(b["y_train"], a["y_train"][:, perm], rtol=1e-9, atol=1e-9)
    for key in ("running_mean", "running_var", "y_eval"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-9, atol=1e-9)


@SETTINGS
@given(hnp.arrays(np.float32, shapes, elements=st.floats(1, 2, width=32)),
       st.integers(0, 2**31 - 1))
def test_dropout_at_rate_zero_is_the_identity(x: np.ndarray, seed: int) -> None:
    kept = np.ones(x.shape, dtype=bool)
    np.testing.assert_array_equal(do.training_output(x, kept, 0.0, "inverse_keep"), x)
    np.testing.assert_array_equal(do.inference_output(x, 0.0, "identity"), x)
    case = Case.make("dropout", "prop", seed, Tolerance(0.0, 0.0), shape=x.shape,
                     dtype="float32", rate=0.0)
    out = OracleDropout("oracle", "dropout").run(case, {"x": x})
    np.testing.assert_array_equal(out["y_train"], x)
    np.testing.assert_array_equal(out["y_eval"], x)


# --- loaders ---------------------------------------------------------------------------------

# Case.make's own arguments cannot be parameter names.
RESERVED = {"op", "family", "seed", "tolerance", "note"}
params = st.dictionaries(
    st.text(st.characters(categories=["Ll"]), min_size=1, max_size=8).filter(
        lambda k: k not in RESERVED),
    st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=10), st.booleans(), st.none(),
              st.lists(st.integers(1, 64), min_size=1, max_size=5)),
    max_size=6)


@SETTINGS
@given(st.sampled_from(["batchnorm", "dropout", "centering"]),
       st.text(st.characters(categories=["Ll", "Nd"]), min_size=1, max_size=12),
       st.integers(0, 2**31 - 1), params,
       st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False))
def test_case_json_round_trip(op: str, family: str, seed: int, p: dict[str, object],
                              rtol: float, atol: float) -> None:
    case = Case.make(op, family, seed, Tolerance(rtol, atol), **p)  # type: ignore[arg-type]
    record = json.loads(json.dumps(case.to_json()))  # through text, as the manifest is
    back = Case.from_json(record)
    assert back == case
    assert back.id == case.id


dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.bool_])


@SETTINGS
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
                       dtypes.flatmap(lambda d: hnp.arrays(
                           d, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))),
                       max_size=4))
def test_npz_round_trip_is_exact_and_byte_stable(tmp_path: Path,
                                                 arrays: dict[str, np.ndarray]) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_arrays(a, arrays)
    save_arrays(b, {k: arrays[k] for k in reversed(list(arrays))})
    assert a.read_bytes() == b.read_bytes()  # member order and timestamps are fixed
    back = load_arrays(a)
    assert sorted(back) == sorted(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


@SETTINGS
@given(st.binary(max_size=400))
def test_load_arrays_refuses_any_bytes_with_value_error(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(blob)
    try:
        load_arrays(path)
    except ValueError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(st.binary(max_size=200))
def test_load_arrays_refuses_corrupt_members(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", blob)
    try:
        load_arrays(path)
    except ValueError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(st.lists(st.text(max_size=60), max_size=5))
def test_load_manifest_raises_only_value_error_naming_the_line(tmp_path: Path,
                                                              lines: list[str]) -> None:
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines), encoding="utf-8")
    try:
        load_manifest(tmp_path)
    except ValueError as exc:
        assert "manifest.jsonl" in str(exc)


@SETTINGS
@given(st.lists(st.one_of(st.text(max_size=40),
                          st.dictionaries(st.sampled_from(["kind", "x"]), st.integers()).map(
                              json.dumps)), max_size=5))
def test_read_records_raises_only_value_error(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        records = list(read_records(path))
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(r, dict) and "kind" in r for r in records)


def test_no_pickle_in_loading() -> None:
    """No module unpickles: no pickle import, no allow_pickle=True (np.load's default is
    False since NumPy 1.16.3; conformance.arrays also says so explicitly)."""
    root = Path(__file__).resolve().parents[1] / "conformance"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for needle in ("import pickle", "from pickle", "allow_pickle=True", "cPickle",
                       "dill", "joblib.load"):
            assert needle not in text, f"{path}: {needle}"
    assert "allow_pickle=False" in (root / "arrays.py").read_text()


@pytest.mark.parametrize("bad", [{"id": "x-0"}, [1, 2], "text", 3])
def test_case_from_json_refuses_bad_records(bad: object) -> None:
    with pytest.raises(ValueError):
        Case.from_json(bad)  # type: ignore[arg-type]
