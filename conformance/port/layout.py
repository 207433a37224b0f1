"""Weights around the batch-norm layers: convolution and dense kernels, in one place.

A ported model carries its convolution and linear layers too; their kernels differ by a
transpose between frameworks. The canonical layout is PyTorch's (and MXNet's, which is
the same): convolution ``(out, in, *kernel)``, linear ``(out, in)``. Keras keeps
channels-last kernels: convolution ``(*kernel, in, out)``, dense ``(in, out)``.
"""

from __future__ import annotations

import numpy as np

# Framework -> (kernel name, bias name, kernels channels-last)
_STYLE = {"torch": ("weight", "bias", False), "mxnet": ("weight", "bias", False),
          "numpy": ("weight", "bias", False),
          "keras": ("kernel", "bias", True), "keras_jax": ("kernel", "bias", True),
          "keras_torch": ("kernel", "bias", True), "tf_keras": ("kernel", "bias", True),
          "flax": ("kernel", "bias", True), "paddle": ("weight", "bias", False)}


def style(framework: str) -> tuple[str, str, bool]:
    if framework not in _STYLE:
        raise ValueError(f"no kernel layout known for {framework}")
    return _STYLE[framework]


def to_canonical(kernel: np.ndarray, framework: str) -> np.ndarray:
    """A kernel as ``(out, in, *spatial)``."""
    if not style(framework)[2] or kernel.ndim < 2:
        return kernel
    if framework == "paddle" and kernel.ndim == 2:  # paddle Linear is (in, out)
        return kernel.T
    return np.ascontiguousarray(np.moveaxis(kernel, (-1, -2), (0, 1)))


def from_canonical(kernel: np.ndarray, framework: str) -> np.ndarray:
    """A ``(out, in, *spatial)`` kernel in ``framework``'s layout."""
    if kernel.ndim < 2:
        return kernel
    if framework == "paddle":  # conv (out, in, *k) as torch; Linear (in, out)
        return np.ascontiguousarray(kernel.T) if kernel.ndim == 2 else kernel
    if not style(framework)[2]:
        return kernel
    return np.ascontiguousarray(np.moveaxis(kernel, (0, 1), (-1, -2)))


def convert(name: str, value: np.ndarray, source: str, target: str) -> tuple[str, np.ndarray]:
    """A non-batch-norm tensor of ``source``'s checkpoint, named and laid out for
    ``target``: ``conv1.weight`` (torch) -> ``conv1/kernel`` (Keras), transposed."""
    prefix, _, leaf = name.replace("/", ".").rpartition(".")
    k_src, b_src, _ = style(source)
    k_dst, b_dst, _ = style(target)
    if leaf == k_src:
        return f"{prefix}/{k_dst}", from_canonical(to_canonical(value, source), target)
    if leaf == b_src:
        return f"{prefix}/{b_dst}", value
    return f"{prefix}/{leaf}", value
