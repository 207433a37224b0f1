"""Mean-only centering written the Keras 3 way; the suite ships it as a reference recipe.

Keras has no mean-only normalization layer, so users write one: a
``keras.layers.Layer`` subclass with a non-trainable moving-mean weight that
follows the same momentum convention as ``keras.layers.BatchNormalization``
(``moving = moving * momentum + batch * (1 - momentum)``), subtracting the batch
mean in training and the moving mean in inference, then adding a learned
offset. The class is built on first use so that importing this module does not
import Keras (the suite's own tests run without it).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def centering_class() -> Any:
    """The ``Centering`` layer class (created once, after Keras is importable)."""
    import keras
    from keras import ops

    class Centering(keras.layers.Layer):  # type: ignore[misc]
        """``y = x - mean + beta``: batch mean in training, moving mean in inference."""

        def __init__(self, axis: int = -1, momentum: float = 0.99, center: bool = True,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.axis = axis
            self.momentum = float(momentum)
            self.center = center

        def build(self, input_shape: tuple[int, ...]) -> None:
            shape = (input_shape[self.axis],)
            self.moving_mean = self.add_weight(shape=shape, initializer="zeros",
                                               trainable=False, name="moving_mean")
            self.beta = (self.add_weight(shape=shape, initializer="zeros", name="beta")
                         if self.center else None)
            axis = self.axis % len(input_shape)
            self._reduce = [a for a in range(len(input_shape)) if a != axis]
            self._bshape = [1] * len(input_shape)
            self._bshape[axis] = input_shape[axis]

        def call(self, inputs: Any, training: bool | None = None) -> Any:
            if training and self.trainable:
                mean = ops.mean(inputs, axis=self._reduce)
                self.moving_mean.assign(self.moving_mean * self.momentum
                                        + mean * (1.0 - self.momentum))
            else:
                mean = self.moving_mean
            y = inputs - ops.reshape(mean, self._bshape)
            if self.beta is not None:
                y = y + ops.reshape(self.beta, self._bshape)
            return y

    return Centering
