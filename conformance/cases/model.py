"""A case: a frozen, content-addressed record of parameters, seed and tolerance."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

# A parameter value is a JSON scalar, or a tuple of ints (a shape).
Param = int | float | str | bool | None | tuple[int, ...]

DTYPES: tuple[str, ...] = ("float16", "float32", "float64")


@dataclass(frozen=True)
class Tolerance:
    """Elementwise bound ``|actual - expected| <= atol + rtol * |expected|``."""

    rtol: float
    atol: float

    def to_json(self) -> dict[str, float]:
        return {"rtol": self.rtol, "atol": self.atol}

    def describe(self) -> str:
        return f"rtol={self.rtol:.3g} atol={self.atol:.3g}"


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

    def get(self, key: str, default: Param = None) -> Param:
        return self.param_dict().get(key, default)

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
        return {
            "id": self.id, "op": self.op, "family": self.family, "seed": self.seed,
            "params": self.param_dict(), "tolerance": self.tolerance.to_json(),
            "note": self.note,
        }

    @staticmethod
    def from_json(record: Mapping[str, Any]) -> Case:
        """Inverse of :meth:`to_json`; raises ``ValueError`` naming the bad field."""
        try:
            params = dict(record["params"])
            tol = Tolerance(float(record["tolerance"]["rtol"]),
                            float(record["tolerance"]["atol"]))
            case = Case.make(str(record["op"]), str(record["family"]), int(record["seed"]),
                             tol, note=str(record.get("note", "")), **params)
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
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def conditioned_tolerance(dtype: str, condition: float, reduce_size: int) -> Tolerance:
    """Tolerance from the dtype's roundoff, the case's conditioning and the reduction length.

    ``condition`` is |mean| / std of the input (1 for well-centred data): the
    relative error of a normalized output grows with it, because the mean must be
    cancelled before dividing by a small spread. Reductions add about log2(n)
    roundings each. The constant 64 leaves room for a different but sound
    summation order; anything beyond it is a different formula, not roundoff.
    """
    u = unit_roundoff(dtype)
    growth = max(1.0, float(np.log2(max(reduce_size, 2))))
    bound = 64.0 * u * (1.0 + condition) * growth
    if dtype == "float16":
        # Outputs are rounded to half precision after float32 accumulation.
        bound = max(bound, 8.0 * u)
    return Tolerance(rtol=bound, atol=bound)
