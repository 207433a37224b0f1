"""Where a framework keeps what it compiled on an earlier run: JAX's compilation cache.

A JAX worker (Flax, Keras on JAX) spends most of its time in XLA compiling the same
programs every run: each module configuration at each case shape (profiled: 643
compilations, 35 of 47 s of the Flax worker). JAX has a persistent compilation cache for
exactly this; an entry is keyed by the program, the jax and jaxlib versions, the backend
and the compile options, and holds the executable XLA built, so a cached program computes
the same bytes as a freshly compiled one (checked: every ``.npz`` output of a Flax
worker run with a warm cache equals, byte for byte, one run without it).

The cache lives in the user's cache folder (``$XDG_CACHE_HOME/conformance/``, else
``~/.cache/conformance/``), shared by every clone and environment on the machine, as uv's
package cache is: a fresh clone, or a ``.nox/`` deleted to start over, does not compile
again what an earlier run compiled (about 50 s of the Flax and Keras-on-JAX workers'
first run on the 2-core machine). Sharing is safe because every entry is keyed by what
produced it: JAX's by the program, the jax and jaxlib versions, the backend and the
compile options; an ONNX export's by the torch, onnx and onnxscript versions and every
input of the export (``adapters/onnx_export.py``). Two processes that write one entry at
once write the same bytes; a reader that meets a half-written JAX entry warns and
compiles (``jax._src.compiler._cache_read``). Where that folder cannot be written, the
environment's own (``<sys.prefix>/conformance-cache/``) is used.
``CONFORMANCE_CACHE=DIR`` puts it elsewhere, ``CONFORMANCE_CACHE=off`` turns it off, and a
cache directory the user gave JAX (``JAX_COMPILATION_CACHE_DIR``) is left as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "CONFORMANCE_CACHE"
_OFF = frozenset({"0", "off", "no", "false", "none"})


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/conformance``, else ``~/.cache/conformance``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "conformance"


def cache_dir(name: str) -> Path | None:
    """``<root>/<name>``, created, or ``None`` when caching is off or no place is
    writable (a read-only machine runs as before, only slower)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    roots = [Path(value)] if value else [user_cache_root(),
                                         Path(sys.prefix) / "conformance-cache"]
    for root in roots:
        path = root / name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (OSError, RuntimeError):  # RuntimeError: no home directory to expand
            continue
        if os.access(path, os.W_OK):
            return path
    return None


def use_jax_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (every program,
    however quick to compile: a case's small programs are many); the directory used, or
    ``None`` when it stays off. Call after ``import jax``, before the first compilation."""
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir or
                    os.environ["JAX_COMPILATION_CACHE_DIR"])
    path = cache_dir("jax")
    if path is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
