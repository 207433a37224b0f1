"""Reading a real checkpoint in the source's environment, and finding its batch-norm layers.

Formats: a PyTorch ``state_dict`` (``.pt``/``.pth``, read with ``torch.load(...,
weights_only=True)``, never unpickling code), Keras ``.weights.h5`` and ``.keras``
(read with h5py; variables are stored by position, ``vars/0``...), MXNet ``.params``
(``mxnet.nd.load``) and ``.npz`` (``allow_pickle=False``). Names are flattened with
``/`` for HDF5 groups and kept as they are otherwise.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = (".pt", ".pth", ".npz", ".params", ".weights.h5", ".h5", ".keras")


def check_format(path: Path) -> None:
    """Bad input before any environment starts: one line, which the CLI turns into exit 2."""
    if not path.is_file():
        raise ValueError(f"--checkpoint {path}: no such file")
    if not any(path.name.endswith(s) for s in FORMATS):
        raise ValueError(f"--checkpoint {path}: unknown format (expected one of "
                         f"{', '.join(FORMATS)})")


def _h5(source: Any) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as f:
        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = np.asarray(obj[()])
        f.visititems(visit)
    return out


def read(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint, by its flattened name."""
    name = path.name
    if name.endswith((".pt", ".pth")):
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.detach().cpu().numpy() for k, v in state.items()
                if hasattr(v, "detach")}
    if name.endswith(".npz"):
        from conformance.arrays import load_arrays

        return load_arrays(path)
    if name.endswith(".params"):
        import mxnet

        loaded = mxnet.nd.load(str(path))
        return {k.split(":", 1)[-1]: v.asnumpy() for k, v in loaded.items()}
    if name.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            return _h5(io.BytesIO(z.read("model.weights.h5")))
    if name.endswith(".h5"):
        return _h5(str(path))
    raise ValueError(f"{path}: unknown checkpoint format")


def _split(key: str) -> tuple[str, str]:
    """(layer prefix, leaf name); Keras files keep ``vars/<i>`` as the leaf."""
    if "/vars/" in key:
        prefix, _, index = key.rpartition("/vars/")
        return prefix, f"vars/{index}"
    for sep in ("/", "."):
        if sep in key:
            prefix, _, leaf = key.rpartition(sep)
            return prefix, leaf
    return "", key


def batchnorm_layers(flat: Mapping[str, np.ndarray], names: Sequence[tuple[str, str]]
                     ) -> dict[str, dict[str, np.ndarray]]:
    """Layers holding the source's batch-norm variables, by prefix, values by role.

    ``names``: (role, name) of a layer the source built, in its variable order (Keras
    files store variables by that position, ``vars/<i>``)."""
    by_name = {n: r for r, n in names}
    by_position = {f"vars/{i}": r for i, (r, _) in enumerate(names)}
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        prefix, leaf = _split(key)
        groups.setdefault(prefix, {})[leaf] = value
    out = {}
    for prefix, leaves in sorted(groups.items()):
        roles = by_position if all(k.startswith("vars/") for k in leaves) else by_name
        if not set(leaves) <= set(roles):
            continue
        mapped = {roles[k]: v for k, v in leaves.items()}
        if {"running_mean", "running_var"} <= set(mapped) and all(
                v.ndim <= 1 for v in mapped.values()):
            out[prefix] = mapped
    return out


def others(flat: Mapping[str, np.ndarray], layers: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The tensors outside the batch-norm layers (convolution, linear, ...)."""
    return {k: v for k, v in flat.items() if _split(k)[0] not in layers}
