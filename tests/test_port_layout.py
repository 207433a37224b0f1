"""Kernel layouts between frameworks: one canonical layout, transposes both ways."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.port.layout import convert, from_canonical, to_canonical

CONV = np.arange(8 * 3 * 3 * 2, dtype=np.float32).reshape(8, 3, 3, 2)  # (out, in, kh, kw)
LINEAR = np.arange(12, dtype=np.float32).reshape(4, 3)  # (out, in)


def test_torch_conv_becomes_a_keras_kernel_and_back() -> None:
    name, k = convert("conv1.weight", CONV, "torch", "keras")
    assert name == "conv1/kernel" and k.shape == (3, 2, 3, 8)
    assert k[1, 0, 2, 5] == CONV[5, 2, 1, 0]
    np.testing.assert_array_equal(to_canonical(k, "keras"), CONV)


def test_linear_transposes_and_biases_keep_their_values() -> None:
    name, k = convert("fc.weight", LINEAR, "torch", "tf_keras")
    assert name == "fc/kernel" and np.array_equal(k, LINEAR.T)
    name, b = convert("fc.bias", LINEAR[0], "torch", "keras")
    assert name == "fc/bias" and np.array_equal(b, LINEAR[0])


def test_mxnet_keeps_torch_layout_and_names() -> None:
    name, k = convert("conv1.weight", CONV, "torch", "mxnet")
    assert name == "conv1/weight" and k is CONV
    assert from_canonical(LINEAR, "paddle").shape == (3, 4)


def test_unknown_framework_is_refused() -> None:
    with pytest.raises(ValueError, match="no kernel layout"):
        convert("a.weight", CONV, "torch", "caffe")
