"""Where a framework keeps what it compiled on an earlier run: JAX's compilation cache.

A JAX worker (Flax, Keras on JAX) spends most of its time in XLA compiling the same
programs every run: each module configuration at each case shape (profiled: 643
compilations, 35 of 47 s of the Flax worker). JAX has a persistent compilation cache for
exactly this; an entry is keyed by the program, the jax and jaxlib versions, the backend
and the compile options, and holds the executable XLA built, so a cached program computes
the same bytes as a freshly compiled one (checked: every ``.npz`` output of a Flax
worker run with a warm cache equals, byte for byte, one run without it).

The cache lives in the environment (``<sys.prefix>/conformance-cache/``): one per
framework environment, gone with ``.nox/``, never shared by two jax versions.
``CONFORMANCE_CACHE=DIR`` puts it elsewhere, ``CONFORMANCE_CACHE=off`` turns it off, and a
cache directory the user gave JAX (``JAX_COMPILATION_CACHE_DIR``) is left as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "CONFORMANCE_CACHE"
_OFF = frozenset({"0", "off", "no", "false", "none"})


def cache_dir(name: str) -> Path | None:
    """``<root>/<name>``, created, or ``None`` when caching is off or the place is not
    writable (a read-only environment runs as before, only slower)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    root = Path(value) if value else Path(sys.prefix) / "conformance-cache"
    path = root / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


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
