"""What ``torch.onnx.export`` costs the onnxruntime worker, cut without changing a byte.

Two measures, both for the export rows of ``onnxrt.py``:

* :func:`registry_built_once`: the default exporter rebuilds its ONNX function registry
  on every call (below).
* :func:`stored`: an exported graph is kept in the environment's cache
  (``conformance.cache``) under a key of everything the export reads: the torch, onnx and
  onnxscript versions, the exporter (``dynamo``) and training mode, the module's class,
  ``repr`` (its hyperparameters), train/eval state and every parameter and buffer (dtype,
  shape, bytes), and the example input (dtype, shape, bytes). A later run with the same
  key reads the bytes that the exporter wrote then instead of exporting again (about 0.5 s
  each, 92 exports a run); every row still runs the graph in ONNX Runtime. Another
  version of any of the three packages, or ``CONFORMANCE_CACHE=off``, exports afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from conformance.cache import cache_dir

REGISTRIES: dict[tuple[Any, ...], Any] = {}


@contextlib.contextmanager
def registry_built_once() -> Iterator[None]:
    """While exporting, ``ONNXRegistry.from_torchlib`` returns the registry it built the
    first time for the same arguments.

    The default exporter rebuilds its ONNX function registry on every call: it re-parses
    the source of some 500 onnxscript functions, about 0.7 s, most of the cost of
    exporting one BatchNorm2d (profiled: 49 of 81 s of the worker's exports). The registry
    is a pure function of the installed torch and onnxscript and of the opset, and the
    exporter only reads it (it writes to it only for a ``custom_translation_table``, which
    no row passes), so one build per opset serves every export; the exported bytes are
    the same (``tests/frameworks/test_onnxruntime.py`` compares them). The patch lives
    only for the export call; where the exporter has no such method it does nothing."""
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        yield
        return
    cls = _registration.ONNXRegistry
    original = cls.__dict__.get("from_torchlib")
    if not isinstance(original, classmethod):
        yield
        return
    build = original.__func__

    def from_torchlib(klass: Any, *args: Any, **kwargs: Any) -> Any:
        key = (klass, args, tuple(sorted(kwargs.items())))
        if key not in REGISTRIES:
            REGISTRIES[key] = build(klass, *args, **kwargs)
        return REGISTRIES[key]

    cls.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        cls.from_torchlib = original



def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _tensor_bytes(t: Any) -> bytes:
    """A tensor's raw bytes (bfloat16 included, which NumPy cannot hold)."""
    import torch

    flat = t.detach().cpu().contiguous().reshape(-1)
    return bytes(flat.view(torch.uint8).numpy().tobytes())


def export_key(module: Any, example: Any, training: bool, dynamo: bool) -> str:
    """A digest of everything ``torch.onnx.export(module, (example,), ...)`` reads."""
    import torch

    h = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            h.update(part if isinstance(part, bytes) else repr(part).encode())
            h.update(b"\0")

    add("onnx-export-1", torch.__version__, _version("onnx"), _version("onnxscript"),
        dynamo, training, torch.is_grad_enabled(), type(module).__module__,
        type(module).__qualname__, repr(module), module.training)
    for name, p in module.named_parameters():
        add(name, p.requires_grad)
    for name, t in sorted(module.state_dict(keep_vars=True).items()):
        add(name, str(t.dtype), tuple(t.shape), _tensor_bytes(t))
    add("example", str(example.dtype), tuple(example.shape), example.requires_grad,
        _tensor_bytes(example))
    return h.hexdigest()


def stored(key: str, export: Callable[[], bytes]) -> bytes:
    """The bytes an earlier ``export()`` with this key wrote, else ``export()``'s (kept
    for the next run when the cache is on; written to a temporary file, then renamed)."""
    folder = cache_dir("onnx-export")
    path = folder / f"{key}.onnx" if folder is not None else None
    if path is not None and path.is_file():
        return path.read_bytes()
    data = export()
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            tmp.unlink(missing_ok=True)
    return data
