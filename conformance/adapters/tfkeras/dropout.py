"""``tf_keras.layers.Dropout``, ``SpatialDropout1D/2D/3D`` and ``AlphaDropout``.

Each layer is called once with ``training=True`` and once with ``training=False``
on the same input. The spatial layers fix their own mask shape (one draw per
sample and channel, channels last); they run a ``noise_shape`` case only when
that shape is theirs. ``AlphaDropout`` does not zero elements: it sets dropped
ones to SELU's negative saturation value and applies an affine map to all
(``alpha_dropout.py:69-90``), and it returns its input unchanged when
``rate`` is 0 or 1 (``if 0.0 < self.rate < 1.0``, line 69).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.adapters.base import Implementation, Outputs, channel_mask_shape
from conformance.adapters.tfkeras import _runtime as rt
from conformance.cases.model import Case

_SPATIAL_RANK = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}


def _spatial_noise(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The mask shape of SpatialDropoutND with the default channels_last format."""
    return channel_mask_shape(shape)


@dataclass
class DropoutLayer(Implementation):
    """One dropout layer class, looked up by the last part of its name."""

    @property
    def cls_name(self) -> str:
        return self.name.rsplit(".", 1)[1]

    def mask_shape(self, case: Case) -> tuple[int, ...] | None:
        """``Dropout`` follows ``noise_shape``; the spatial layers drop whole channels
        whatever the case says; ``AlphaDropout`` has no keep/drop mask to read (dropped
        elements become SELU's saturation value, then everything is mapped affinely)."""
        if self.cls_name == "AlphaDropout":
            return None
        if self.cls_name in _SPATIAL_RANK:
            return _spatial_noise(case.shape)
        return super().mask_shape(case)

    def supports(self, case: Case) -> str | None:
        noise = case.get("noise_shape")
        rank = _SPATIAL_RANK.get(self.cls_name)
        if rank is None:
            return None
        if len(case.shape) != rank:
            return f"{self.cls_name} takes rank-{rank} input"
        if noise is not None and tuple(noise) != _spatial_noise(case.shape):  # type: ignore[arg-type]
            return f"{self.cls_name} fixes its mask shape to {_spatial_noise(case.shape)}"
        return None

    def config(self, case: Case) -> dict[str, Any]:
        """AlphaDropout is modelled by its own oracle (SELU affine correction)."""
        return {"alpha_dropout": True} if self.cls_name == "AlphaDropout" else {}

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        rt.apply_seed()
        cls = getattr(rt.keras().layers, self.cls_name)
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        # dtype: without it the layer autocasts float16/float64 input to float32.
        kwargs: dict[str, object] = {"dtype": case.dtype}
        noise = case.get("noise_shape")
        if noise is not None and self.cls_name in ("Dropout", "AlphaDropout"):
            kwargs["noise_shape"] = tuple(noise)  # type: ignore[arg-type]
        layer = cls(rate, **kwargs)
        x = rt.const(inputs["x"])
        y_eval = rt.to_np(layer(x, training=False))
        y_train = rt.to_np(layer(x, training=True))
        return {"y_train": y_train, "y_eval": y_eval}


def implementations() -> list[Implementation]:
    names = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
             "AlphaDropout")
    return [DropoutLayer(f"tf_keras.layers.{n}", "dropout") for n in names]
