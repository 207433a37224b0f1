"""Byte-reproducible ``.npz`` files, read without pickle.

``numpy.savez`` stamps each member with the current time, so two identical runs
would write different bytes. These helpers fix the timestamp and the member
order, and always load with ``allow_pickle=False``.

bfloat16 has no NumPy dtype of its own (``ml_dtypes`` adds one, which an
``.npy`` header cannot name without pickle), so bfloat16 arrays are stored as
float32 arrays holding exactly representable bfloat16 values: the case's dtype
says what they are, and each adapter casts them (:func:`numpy_dtype` gives
``ml_dtypes.bfloat16`` where a framework wants a NumPy array of it). Every
float32 value that came from a bfloat16 converts back to the same bfloat16.
``ml_dtypes`` is imported only when a bfloat16 array is made, so environments
without it (MXNet's, pinned to numpy 1.23) run every other case.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)
BFLOAT16 = "bfloat16"


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype called ``name``; ``bfloat16`` needs the ``ml_dtypes`` package."""
    if name == BFLOAT16:
        try:
            import ml_dtypes
        except ImportError:
            raise ValueError("bfloat16 cases need the ml_dtypes package "
                             "(pip install ml_dtypes)") from None
        bf16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
        return bf16
    return np.dtype(name)


def round_to_dtype(a: object, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype``; bfloat16 values come back as float32 (see above)."""
    if dtype == BFLOAT16:
        return np.asarray(a).astype(numpy_dtype(BFLOAT16)).astype(np.float32)
    return np.asarray(a).astype(dtype)


def in_case_dtype(arrays: Mapping[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """A case's arrays in its own NumPy dtype, for frameworks that take NumPy bfloat16
    (TensorFlow): bfloat16 ones as ``ml_dtypes.bfloat16``, others as they are."""
    if dtype != BFLOAT16:
        return dict(arrays)
    return {k: np.asarray(v).astype(numpy_dtype(dtype)) for k, v in arrays.items()}


def _storable(array: np.ndarray) -> np.ndarray:
    """Extension floats (ml_dtypes' bfloat16, which a framework may return) as float32:
    exact for bfloat16, and readable without ml_dtypes or pickle."""
    # Without this the header says '<V2' and the values come back as raw bytes.
    if str(getattr(array.dtype.type, "__module__", "")).startswith("ml_dtypes"):
        return array.astype(np.float32)
    return array


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], *, compress: bool = True) -> None:
    """Write ``arrays`` atomically (temporary file, then rename) with fixed metadata.

    ``compress=False`` stores the members as they are: a worker's outputs are written once
    and read once, and deflating them was most of what the NumPy worker spent beyond its
    bare loop (the default matrix's 2,189 output files: 4.9 s of CPU to deflate 92 MB to
    59 MB, 0.2 s to store them). Case inputs stay deflated: their digests name the bytes."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    path.parent.mkdir(parents=True, exist_ok=True)
    # A per-process name: two writers of the same file never share a temporary.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=method) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                # C order whatever the layout (same bytes); not ascontiguousarray,
                # which turns a 0-d array into a 1-d one.
                array = _storable(np.asarray(arrays[name])).copy(order="C")
                np.lib.format.write_array(buf, array, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Load every member; raises ``ValueError`` naming the file when it is not a valid npz."""
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error,
            NotImplementedError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a readable array file ({first})") from None
