"""A case: a frozen, content-addressed record of parameters, seed and tolerance."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

# A parameter value is a JSON scalar, or a tuple of ints (a shape).
Param = int | float | str | bool | None | tuple[int, ...]

# bfloat16 inputs are stored as float32 arrays holding exactly representable bfloat16
# values (npz files cannot hold ml_dtypes' bfloat16 without pickle); the case's dtype
# tells each adapter to cast them, see conformance/arrays.py.
DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
HALF_DTYPES: tuple[str, ...] = ("float16", "bfloat16")

# Unit roundoff (half the machine epsilon) per dtype; bfloat16 has 8 significant bits.
# A table rather than np.finfo, which knows bfloat16 only once ml_dtypes is imported.
UNIT_ROUNDOFF: dict[str, float] = {"float16": 2.0**-11, "bfloat16": 2.0**-8,
                                   "float32": 2.0**-24, "float64": 2.0**-53}

FloatArray = npt.NDArray[np.float64]
# A tolerance no case may exceed unless it is marked informational: beyond it a check
# cannot tell the candidate formulas apart, so it must not pretend to decide.
DECISIVE_TOLERANCE = 1e-2


@dataclass(frozen=True)
class Tolerance:
    """Elementwise bound ``|actual - expected| <= atol + rtol * |expected|``.

    In a case record ``rtol`` and ``atol`` are floats, the worst case over channels and
    outputs, so a caller that knows nothing of channels stays safe. ``channels`` keeps
    the per-channel bounds of each output group (see ``conformance.cases.tolerances``):
    one ill-conditioned channel must not widen the bound of the others.
    :func:`conformance.cases.tolerances.tolerance_for` turns them into arrays that
    broadcast against an output, and ``rtol``/``atol`` are then those arrays.
    """

    rtol: float | FloatArray
    atol: float | FloatArray
    # (output group, rtol per channel, atol per channel)
    channels: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()

    @property
    def worst(self) -> float:
        """The largest bound anywhere (what the 1e-2 rule is about)."""
        return float(max(np.max(self.rtol), np.max(self.atol)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rtol": float(np.max(self.rtol)),
                               "atol": float(np.max(self.atol))}
        if self.channels:
            out["channels"] = {g: {"rtol": list(r), "atol": list(a)}
                               for g, r, a in self.channels}
        return out

    @staticmethod
    def from_json(record: Mapping[str, Any]) -> Tolerance:
        groups = record.get("channels") or {}
        channels = tuple((str(g), tuple(float(v) for v in b["rtol"]),
                          tuple(float(v) for v in b["atol"])) for g, b in groups.items())
        return Tolerance(float(record["rtol"]), float(record["atol"]), channels)

    def describe(self) -> str:
        """``rtol=.. atol=..`` (the worst element), plus the median where bounds vary.

        Only ``key=value`` words: the report's charts parse this string.
        """
        return self._described

    @cached_property
    def _described(self) -> str:  # every result row of a case describes the same bound
        text = f"rtol={np.max(self.rtol):.3g} atol={np.max(self.atol):.3g}"
        if np.ndim(self.rtol) or np.ndim(self.atol):
            r, a = np.unique(self.rtol), np.unique(self.atol)
            if r.size > 1 or a.size > 1:
                text += f" median_rtol={np.median(r):.3g} median_atol={np.median(a):.3g}"
        return text


@dataclass(frozen=True)
class Case:
    """One input configuration, identical for every framework.

    The id is derived from the content (op, family, params, seed), so it is the
    same on every machine and version, and changes whenever the case changes.
    """

    op: str
    family: str
    params: tuple[tuple[str, Param], ...]
    seed: int
    tolerance: Tolerance
    note: str = field(default="", compare=False)
    # Non-empty for a case whose tolerance cannot decide (above DECISIVE_TOLERANCE): why it
    # still runs. Such a case is reported, not used to tell candidate values apart.
    informational: str = ""

    @staticmethod
    def make(op: str, family: str, seed: int, tolerance: Tolerance, note: str = "",
             **params: Param) -> Case:
        items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                             for k, v in params.items()))
        return Case(op=op, family=family, params=items, seed=seed, tolerance=tolerance,
                    note=note)

    @cached_property
    def id(self) -> str:  # cached: analysis looks ids up thousands of times
        payload = json.dumps(
            {"op": self.op, "family": self.family, "params": self.param_dict(),
             "seed": self.seed},
            sort_keys=True, separators=(",", ":"),
        )
        return f"{self.family}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"

    def param_dict(self) -> dict[str, Param]:
        return dict(self.params)

    @cached_property
    def _param_map(self) -> dict[str, Param]:  # the analysis asks ~360,000 times a report
        return dict(self.params)

    def get(self, key: str, default: Param = None) -> Param:
        return self._param_map.get(key, default)

    # Typed accessors for the parameters every op shares.
    @property
    def shape(self) -> tuple[int, ...]:
        value = self.get("shape")
        assert isinstance(value, tuple)
        return value

    @property
    def dtype(self) -> str:
        return str(self.get("dtype", "float32"))

    @property
    def channel_axis(self) -> int:
        """Positive index of the channel axis in ``shape``."""
        return 1 if self.get("channel_axis", "first") == "first" else len(self.shape) - 1

    @property
    def channels(self) -> int:
        return self.shape[self.channel_axis]

    @property
    def steps(self) -> int:
        value = self.get("steps", 1)
        assert isinstance(value, int)
        return value

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id, "op": self.op, "family": self.family, "seed": self.seed,
            "params": self.param_dict(), "tolerance": self.tolerance.to_json(),
            "note": self.note,
        }
        if self.informational:
            out["informational"] = self.informational
        return out

    @staticmethod
    def from_json(record: Mapping[str, Any]) -> Case:
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the bad field."""
        try:
            params = dict(record["params"])
            tol = Tolerance.from_json(record["tolerance"])
            case = replace(Case.make(str(record["op"]), str(record["family"]),
                                     int(record["seed"]), tol, note=str(record.get("note", "")),
                                     **params),
                           informational=str(record.get("informational", "")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"case record is missing or has a bad field: {exc}") from None
        if "id" in record and record["id"] != case.id:
            raise ValueError(f"case id {record['id']} does not match its content ({case.id})")
        return case


def momentum_of(case: Case, default: float) -> float | None:
    """The case's momentum argument; ``default`` stands for "pass nothing", None for "none"."""
    m = case.get("momentum")
    if m == "default":
        return default
    return None if m == "none" else float(m)  # type: ignore[arg-type]


def epsilon_of(case: Case, default: float) -> float:
    """The case's epsilon argument, ``default`` when the case passes none."""
    e = case.get("epsilon")
    return default if e == "default" else float(e)  # type: ignore[arg-type]


def unit_roundoff(dtype: str) -> float:
    return UNIT_ROUNDOFF[dtype]


def conditioned_tolerance(dtype: str, condition: float, reduce_size: int) -> Tolerance:
    """A whole-case bound from the dtype's roundoff, |mean|/std and the reduction length.

    Kept for the statistics-precision bands (``compare/bn_probes.py``), which ask how far
    an accumulator of a given precision may stray; the checks use the per-channel bounds
    of ``conformance.cases.tolerances``. The constant 64 leaves room for a different but
    sound summation order.
    """
    u = unit_roundoff(dtype)
    growth = max(1.0, float(np.log2(max(reduce_size, 2))))
    bound = 64.0 * u * (1.0 + condition) * growth
    if dtype in HALF_DTYPES:
        # Outputs are rounded to half precision after float32 accumulation.
        bound = max(bound, 8.0 * u)
    return Tolerance(rtol=bound, atol=bound)
