"""Which internal path ``tf_keras.layers.BatchNormalization`` takes, and the row names.

The conditions mirror tf_keras 2.21.0,
``tf_keras/src/layers/normalization/batch_normalization.py`` (BNB below):

* ``__init__`` keeps ``fused=None`` only when ``_fused_can_be_used()``
  (BNB:230-237), which rejects ``renorm`` (BNB:271), an axis other than one of
  -4, -3, -1, 1, 3, 4 (BNB:279), ``virtual_batch_size`` (BNB:285),
  ``adjustment`` (BNB:290) and a compute dtype other than float16, bfloat16 or
  float32 (BNB:297). The compute dtype is the layer's ``dtype`` argument, which
  the adapter sets to the case dtype, so float64 cases never fuse.
* ``build`` then sets ``fused = rank in (4, 5)`` (BNB:356-357), and keeps it only
  for axis 1 or the last axis (BNB:375-387); a rank-5 input with another axis
  falls back to non-fused, a rank-4 one raises.

The adapter checks ``layer.fused`` after building, so a row can never carry the
wrong path name.
"""

from __future__ import annotations

from conformance.cases.model import Case

BASE = "tf_keras.layers.BatchNormalization"
FUSED_DTYPES = ("float16", "bfloat16", "float32")  # BNB:297


def default_path(case: Case) -> str:
    """``fused`` or ``non_fused`` for a default-constructed layer on this case."""
    rank = len(case.shape)
    if case.dtype not in FUSED_DTYPES:  # BNB:297, compute dtype
        return "non_fused"
    if rank not in (4, 5):  # BNB:357
        return "non_fused"
    if case.channel_axis not in (1, rank - 1):  # BNB:376-387
        return "non_fused"
    return "fused"


def flag_qualifiers(case: Case) -> list[str]:
    """Constructor flags a centering case turns off, as users write them.

    ``mean_only`` has no constructor flag; its (unsupported) row is named after the case.
    """
    return {"scale_off": ["scale=False"], "center_off": ["center=False"],
            "affine_off": ["center=False", "scale=False"],
            "mean_only": ["mean_only"]}.get(str(case.get("flags")), [])


def row(*qualifiers: str) -> str:
    """``BASE`` or ``BASE[q1,q2]``."""
    quals = [q for q in qualifiers if q]
    return f"{BASE}[{','.join(quals)}]" if quals else BASE
