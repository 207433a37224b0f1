"""tf_keras (Keras 2, the ``tf_keras`` package): batch norm on every internal path, dropout.

Rows (see :mod:`.paths` for how the path is chosen, with source lines):

* ``tf_keras.layers.BatchNormalization[fused]`` / ``[non_fused]``: the plain layer,
  called directly, qualified by the path it takes for the case;
* ``[fused=False]``: the non-fused path forced on cases that would fuse;
* ``[renorm]`` and ``[renorm,rmin=1,rmax=1,dmax=0]``: Batch Renormalization, with
  default (no) clipping and with r and d clipped to the identity correction;
* ``[virtual_batch_size=2]``: ghost batch norm;
* ``[fit,fused]`` / ``[fit,non_fused]``: ``model.fit`` then ``model.predict``;
* centering: the layer with ``scale=False`` / ``center=False`` / both;
* ``Dropout``, ``SpatialDropout1D/2D/3D``, ``AlphaDropout``.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.adapters.base import Adapter, DocClaim, Implementation
from conformance.adapters.documented import signature_default, verified_claims
from conformance.adapters.tfkeras import _runtime as rt
from conformance.adapters.tfkeras import batchnorm, dropout, fit
from conformance.adapters.tfkeras.paths import BASE


class TfKerasAdapter(Adapter):
    framework = "tf_keras"

    def __init__(self) -> None:
        self._impls: list[Implementation] = [
            *batchnorm.implementations(), *fit.implementations(),
            *dropout.implementations(),
        ]

    def load(self) -> None:
        rt.quiet_tensorflow()

    def version(self) -> str:
        return str(rt.keras().__version__)

    def implementations(self) -> Sequence[Implementation]:
        return self._impls

    def documented(self) -> list[DocClaim]:
        cls = rt.keras().layers.BatchNormalization
        claims = [signature_default(BASE, cls, "momentum", "momentum_default"),
                  signature_default(BASE, cls, "epsilon", "epsilon_default")]
        return [c for c in claims if c is not None] + verified_claims("tf_keras")

    def seed(self, seed: int) -> None:
        rt.seed_tensorflow(seed)

    def environment(self) -> dict[str, str]:
        tf = rt.tf()
        return {"device": "cpu", "tensorflow": str(tf.__version__),
                "onednn": "on" if _onednn_on() else "off"}


def _onednn_on() -> bool:
    """oneDNN reorders float reductions on CPU; TensorFlow enables it unless told not to."""
    import os

    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") not in ("0", "false", "False")
