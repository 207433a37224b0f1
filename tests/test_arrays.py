"""bfloat16 storage: float32 arrays holding exact bfloat16 values, never pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.arrays import in_case_dtype, load_arrays, numpy_dtype, round_to_dtype, save_arrays

ml_dtypes = pytest.importorskip("ml_dtypes")


def test_bfloat16_values_are_stored_as_exact_float32() -> None:
    x = np.random.default_rng(0).standard_normal(1000) * 10
    r = round_to_dtype(x, "bfloat16")
    assert r.dtype == np.float32
    bf = r.astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(bf.astype(np.float32), r)  # nothing lost either way
    assert np.abs(r - x).max() <= 2.0**-8 * np.abs(x).max()  # and it did round
    assert (r.view(np.uint32) & 0xFFFF == 0).all()  # low half of every float32 is zero


def test_framework_bfloat16_outputs_are_saved_as_float32(tmp_path: Path) -> None:
    y = np.array([1.5, -2.25, 3.0], dtype=ml_dtypes.bfloat16)
    save_arrays(tmp_path / "o.npz", {"y": y})
    back = load_arrays(tmp_path / "o.npz")["y"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, [1.5, -2.25, 3.0])


def test_in_case_dtype_gives_numpy_bfloat16_and_leaves_others_alone() -> None:
    a = {"x": np.ones(3, np.float32)}
    assert in_case_dtype(a, "bfloat16")["x"].dtype == numpy_dtype("bfloat16")
    assert in_case_dtype(a, "float32")["x"] is a["x"]
    assert round_to_dtype([1.0], "float16").dtype == np.float16


def test_uncompressed_files_hold_the_same_arrays_and_are_reproducible(tmp_path: Path) -> None:
    import zipfile

    arrays = {"y": np.arange(600, dtype=np.float64).reshape(20, 30), "m": np.zeros(3, bool)}
    save_arrays(tmp_path / "d.npz", arrays)
    save_arrays(tmp_path / "s.npz", arrays, compress=False)
    save_arrays(tmp_path / "s2.npz", arrays, compress=False)
    with zipfile.ZipFile(tmp_path / "s.npz") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    with zipfile.ZipFile(tmp_path / "d.npz") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert (tmp_path / "s.npz").read_bytes() == (tmp_path / "s2.npz").read_bytes()
    for name in ("d.npz", "s.npz"):
        back = load_arrays(tmp_path / name)
        assert sorted(back) == ["m", "y"], name
        for key, value in arrays.items():
            assert back[key].dtype == value.dtype, (name, key)
            np.testing.assert_array_equal(back[key], value, err_msg=f"{name}:{key}")
