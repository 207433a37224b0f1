"""Seeded draws of configurations: cases as data, far beyond the default matrix.

One ``numpy.random.Generator`` seeded by the exploration's seed makes every draw, so an
exploration is reproduced from its seed alone. A case is built from its parameters by
:func:`bn_case` / :func:`dropout_case`, the same functions the shrinker and the known
findings use, and its tolerance is derived exactly as the default families derive theirs
(``cases.families.precision_band`` for batch norm, ``elementwise_tolerance`` for dropout).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from conformance.cases.families import precision_band
from conformance.cases.model import DTYPES, Case, Param, Tolerance
from conformance.cases.tolerances import elementwise_tolerance, is_decisive

BN_FAMILY, DO_FAMILY = "ex_bn", "ex_do"
MOMENTA: tuple[float | str, ...] = ("default", 0.0, 1.0, "none", 1e-12, 1.0 - 1e-7, 0.5, 1e5)
EPSILONS: tuple[float | str, ...] = ("default", 1e-12, 0.0, 1e-3, 1e5)
# (offset, spread): plain, a far offset, a tiny spread, cancellation, denormals, huge values
# (1e15 squares to 1e30, inside float32's range: a wider spread overflows any float32
# variance, a limit of the dtype rather than of an implementation.)
VALUES: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1e8, 1.0), (0.0, 1e-8), (1e4, 1e-2),
                                           (0.0, 1e-40), (0.0, 1e15))
DENORMAL_SPREAD = 1e-30  # below it float32 values are subnormal: roundoff is absolute
SPECIALS = ("none", "zero_variance", "tiny_variance", "centred")
POISONS = ("none", "nan", "inf", "-inf")
RATES = (0.0, 1e-7, 0.01, 0.5, 0.99, 1.0 - 1e-7, 1.0)
MAX_ELEMENTS = 20_000  # per batch: large batches, but a case still runs in seconds


def _seed(params: Mapping[str, Param]) -> int:
    return zlib.crc32(repr(sorted(params.items())).encode()) & 0x7FFFFFFF


def bn_case(params: Mapping[str, Param]) -> Case:
    """A batch-norm case from its parameters; its seed and tolerance follow from them."""
    p = dict(params)
    shape = p["shape"]
    assert isinstance(shape, tuple)
    channels = shape[1 if p.get("channel_axis", "first") == "first" else -1]
    if channels < 2 and p.get("special") in ("zero_variance", "tiny_variance"):
        p["special"] = "none"  # both mark channel 1: one channel has nothing to mark
    seed = _seed(p)
    case = Case.make("batchnorm", BN_FAMILY, seed, Tolerance(0.0, 0.0), note="explore", **p)
    m = p.get("momentum")
    # The bound's weight of the initial variance needs a momentum in [0, 1]; one beyond
    # it (1e5) keeps the bound of its clipped value, which the formula itself extrapolates.
    bound_case = case if not isinstance(m, float) or 0.0 <= m <= 1.0 else dataclasses.replace(
        case, params=tuple((k, min(max(float(v), 0.0), 1.0) if k == "momentum" else v)  # type: ignore[arg-type]
                           for k, v in case.params))
    tol = precision_band(bound_case)
    info = ("explore: subnormal inputs, whose roundoff the relative bound does not model"
            if float(p.get("spread", 1.0)) < DENORMAL_SPREAD  # type: ignore[arg-type]
            else "explore: momentum outside [0, 1], a bound extrapolated"
            if bound_case is not case else
            "" if is_decisive(tol) else "explore: bound above 1e-2")
    return dataclasses.replace(case, tolerance=tol, informational=info)


def dropout_case(params: Mapping[str, Param]) -> Case:
    p = dict(params)
    return Case.make("dropout", DO_FAMILY, _seed(p), elementwise_tolerance(str(p["dtype"])),
                     note="explore", **p)


def case_of(op: str, params: Mapping[str, Param]) -> Case:
    return dropout_case(params) if op == "dropout" else bn_case(params)


T = TypeVar("T")


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def draw_bn(rng: np.random.Generator) -> Case:
    rank = int(rng.integers(2, 6))
    layout = "first" if rank == 2 else str(_pick(rng, ("first", "last")))
    channels = int(_pick(rng, (1, 1, 2, 3, 7)))
    spatial = tuple(int(_pick(rng, (1, 1, 2, 3, 5))) for _ in range(rank - 2))
    batch = int(_pick(rng, (1, 1, 2, 3, 8, 64, 512)))
    per_batch = channels * math.prod(spatial)
    batch = max(1, min(batch, MAX_ELEMENTS // per_batch))
    shape = (batch, channels, *spatial) if layout == "first" else (batch, *spatial, channels)
    offset, spread = _pick(rng, VALUES)
    return bn_case({"shape": shape, "channel_axis": layout,
                    "dtype": str(_pick(rng, DTYPES)),
                    "momentum": _pick(rng, MOMENTA),
                    "epsilon": _pick(rng, EPSILONS),
                    "steps": int(_pick(rng, (1, 2, 3))), "offset": float(offset),
                    "spread": float(spread), "special": str(_pick(rng, SPECIALS)),
                    "poison": str(_pick(rng, POISONS)) if rng.random() < 0.3 else "none"})


def draw_dropout(rng: np.random.Generator) -> Case:
    rank = int(rng.integers(1, 6))
    shape = tuple(int(_pick(rng, (1, 2, 3, 8, 33))) for _ in range(rank))
    kind = str(_pick(rng, ("none", "none", "full", "ones", "batch_shared", "random")))
    noise: tuple[int, ...] | None = {
        "none": None, "full": shape, "ones": (1,) * rank,
        "batch_shared": (1, *shape[1:]),
        "random": tuple(d if rng.random() < 0.5 else 1 for d in shape)}[kind]
    return dropout_case({"shape": shape, "dtype": str(_pick(rng, DTYPES)),
                         "rate": float(_pick(rng, RATES)),
                         "noise_shape": noise})


def draw(seed: int, count: int, ops: tuple[str, ...] = ("batchnorm", "dropout")) -> list[Case]:
    """``count`` cases from ``seed`` (two in three batch norm when both ops are drawn),
    distinct by id, in draw order: the same list for the same arguments everywhere."""
    rng = np.random.default_rng(seed)
    out: dict[str, Case] = {}
    tries = 0
    while len(out) < count and tries < count * 20:
        tries += 1
        op = ops[0] if len(ops) == 1 else ("dropout" if rng.random() < 1 / 3 else "batchnorm")
        case = draw_dropout(rng) if op == "dropout" else draw_bn(rng)
        out.setdefault(case.id, case)
    return list(out.values())
