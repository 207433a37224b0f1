"""Case families: which configurations exist and how their inputs are drawn.

Each family is a generator of :class:`Case` records; :func:`inputs_for` draws a
case's arrays from its seed. Arrays are drawn once, in the orchestration
environment, and stored (see :mod:`conformance.cases.store`), because NumPy's
random streams are not promised to be equal across NumPy builds.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from conformance.arrays import round_to_dtype
from conformance.cases.model import DECISIVE_TOLERANCE, Case, Param, Tolerance
from conformance.cases.tolerances import (
    channel_tolerance,
    elementwise_tolerance,
    initial_weight,
    is_decisive,
    smallest_epsilon,
)

Family = Callable[[], Iterator[Case]]
FAMILIES: dict[str, Family] = {}
# Families left out of the default set: generated only when named (``generate
# --device-probes`` adds them). ``bn_device``'s float32 cases would make some rows'
# momentum and variance findings decisive that are inconclusive today (an ONNX Runtime
# export row's inference_statistics, a planted float32-statistics row), so they stay out
# of the default matrix until those findings are reviewed.
OPT_IN: frozenset[str] = frozenset({"bn_device"})


def family(fn: Family) -> Family:
    FAMILIES[fn.__name__.removeprefix("_")] = fn
    return fn


def _seed(*parts: object) -> int:
    """A seed derived from the case's own description, stable across processes."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def _shape(rank: int, batch: int, channels: int, layout: str) -> tuple[int, ...]:
    spatial = {2: (), 3: (5,), 4: (4, 4), 5: (3, 3, 3)}[rank]
    if layout == "first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _reduce_size(shape: tuple[int, ...], layout: str) -> int:
    axis = 1 if layout == "first" else len(shape) - 1
    return math.prod(shape) // shape[axis]


def _bn(family_name: str, *, op: str = "batchnorm", rank: int = 4, batch: int = 4,
        channels: int = 3, layout: str = "first", dtype: str = "float32",
        momentum: float | str = "default", epsilon: float | str = "default",
        steps: int = 3, offset: float = 0.0, spread: float = 1.0,
        special: str = "none", note: str = "", informational: str = "",
        spatial: tuple[int, ...] | None = None, **extra: Param) -> Case:
    shape = (_shape(rank, batch, channels, layout) if spatial is None else
             (batch, channels, *spatial) if layout == "first" else (batch, *spatial, channels))
    params: dict[str, Param] = dict(
        shape=shape, channel_axis=layout, dtype=dtype, momentum=momentum, epsilon=epsilon,
        steps=steps, offset=offset, spread=spread, special=special, **extra,
    )
    seed = _seed(family_name, sorted(params.items()))
    tol = _bn_tolerance(params, seed)
    if not is_decisive(tol) and not informational:
        raise ValueError(f"{family_name} ({note}): tolerance {tol.describe()} is above "
                         f"{DECISIVE_TOLERANCE:g}; mark the case informational or change it")
    case = Case.make(op, family_name, seed, tol, note=note, **params)
    return dataclasses.replace(case, informational=informational)


def precision_band(case: Case, accumulate: str | None = None, sequential: bool = False,
                   one_pass: bool = False) -> Tolerance:
    """The case's tolerance had its statistics been accumulated in ``accumulate`` (by a
    running sum when ``sequential``; its variance in one pass when ``one_pass``)."""
    return _bn_tolerance(case.param_dict(), case.seed, accumulate, sequential, one_pass)


def _bn_tolerance(params: dict[str, Param], seed: int, accumulate: str | None = None,
                  sequential: bool = False, one_pass: bool = False) -> Tolerance:
    """Per-channel tolerance of a batch-norm or centering case, from its own draws."""
    shape, layout = params["shape"], str(params["channel_axis"])
    assert isinstance(shape, tuple)
    channels = shape[1 if layout == "first" else -1]
    means, stds = channel_draws(np.random.default_rng(seed), channels,
                                float(params["offset"]),  # type: ignore[arg-type]
                                float(params["spread"]),  # type: ignore[arg-type]
                                str(params["special"]), params.get("tiny_mean"))
    return channel_tolerance(str(params["dtype"]), _reduce_size(shape, layout), means, stds,
                             smallest_epsilon(params["epsilon"]),  # type: ignore[arg-type]
                             variance_normalized=params.get("flags") != "mean_only",
                             initial_weight=initial_weight(
                                 params["momentum"], int(params["steps"])),  # type: ignore[arg-type]
                             accumulate=accumulate, sequential=sequential,
                             one_pass=one_pass)


@family
def _bn_layout() -> Iterator[Case]:
    for rank in (2, 3, 4, 5):
        for layout in ("first", "last") if rank > 2 else ("first",):
            yield _bn("bn_layout", rank=rank, layout=layout, batch=8 if rank == 2 else 4,
                      note=f"rank {rank}, channel axis {layout}")


@family
def _bn_dtype() -> Iterator[Case]:
    for dtype in ("float16", "float32", "float64"):
        yield _bn("bn_dtype", dtype=dtype, note=f"{dtype} input")


@family
def _bn_batch() -> Iterator[Case]:
    for rank in (2, 4):
        for batch in (1, 2, 16):
            yield _bn("bn_batch", rank=rank, batch=batch, dtype="float64",
                      note=f"batch of {batch}, rank {rank}")
    # float32 too, so a float64-only failure is not mistaken for the batch-of-one behaviour.
    yield _bn("bn_batch", rank=2, batch=1, dtype="float32", note="batch of 1, rank 2, float32")


@family
def _bn_offset() -> Iterator[Case]:
    for dtype in ("float32", "float64"):
        yield _bn("bn_offset", dtype=dtype, offset=1e4, spread=1e-2, rank=2, batch=64,
                  note="mean 1e4, std 1e-2: cancellation in the variance",
                  informational="" if dtype == "float64" else
                  "float32 resolves 1e4 to ~1e-3, a tenth of the spread: the mean's own "
                  "roundoff is comparable to the signal, so no bound separates formulas; "
                  "kept to show which implementations survive the cancellation")
    # Decisive in float32: mean ~100 times the spread still cancels, within a bound of 1e-2.
    yield _bn("bn_offset", dtype="float32", offset=100.0, spread=1.0, rank=2, batch=64,
              note="float32, mean 1e2, std 1: cancellation a sound variance survives")


@family
def _bn_variance() -> Iterator[Case]:
    for dtype in ("float32", "float64"):
        yield _bn("bn_variance", dtype=dtype, special="zero_variance", rank=2, batch=16,
                  channels=4, note="channel 0 constant, channel 1 variance 1e-10 << eps")


@family
def _bn_momentum() -> Iterator[Case]:
    for momentum in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0, "none"):
        yield _bn("bn_momentum", momentum=momentum, dtype="float64", steps=4,
                  note=f"momentum {momentum}")
    for rank in (2, 3, 5):  # every rank-specific API gets an explicit momentum to interpret
        yield _bn("bn_momentum", momentum=0.2, dtype="float64", steps=3, rank=rank,
                  note=f"momentum 0.2 at rank {rank}")


@family
def _bn_epsilon() -> Iterator[Case]:
    for eps in (0.0, 1e-8, 1e-5, 1e-3, "default"):
        yield _bn("bn_epsilon", epsilon=eps, dtype="float64", special="tiny_variance",
                  rank=2, batch=32, channels=4,
                  note=f"epsilon {eps}; channel 1 has variance ~1e-6 so epsilon shows")
    for rank in (3, 4, 5):
        for eps in ("default", 1e-8):
            yield _bn("bn_epsilon", epsilon=eps, dtype="float64", special="tiny_variance",
                      rank=rank, batch=4, channels=4,
                      note=f"epsilon {eps} at rank {rank}: default and floor probes")


@family
def _bn_fused() -> Iterator[Case]:
    # float32 rank 4: the only inputs that reach fused kernels (tf_keras, tf.compat.v1).
    for momentum in (0.1, 0.9):
        yield _bn("bn_fused", momentum=momentum, dtype="float32", steps=4,
                  note=f"float32 rank 4 (fused kernels), momentum {momentum}")
    # Explicit momentum *and* epsilon in float32: rows whose epsilon default the suite
    # does not measure (the special rows: renorm, ghost batches) still get a case whose
    # momentum convention and variance estimators can be fitted.
    yield _bn("bn_fused", momentum=0.9, epsilon=1e-3, dtype="float32", steps=4,
              note="float32 rank 4 (fused kernels), momentum 0.9, epsilon 1e-3")
    # The tiny channel is centred near zero: an uncentred one (mean ~1, std 1e-3) cancels
    # too much for float32 to bound within 1e-2. Default epsilon in both layouts, so the
    # fused kernels' own default and floor are measured, never taken from the docs.
    for eps, layout in ((1e-8, "first"), (1e-3, "first"), ("default", "first"),
                        ("default", "last"), (1e-8, "last")):
        yield _bn("bn_fused", epsilon=eps, dtype="float32", special="tiny_variance",
                  tiny_mean=1e-3, batch=32, channels=4, layout=layout,
                  note=f"float32 rank 4 (fused kernels), channels {layout}, epsilon {eps}; "
                       "channel 1 has mean and std 1e-3")


@family
def _bn_half() -> Iterator[Case]:
    # 8192 values per channel: summed in the half dtype itself, the variance stalls (the
    # running sum's ulp outgrows the terms) or, pairwise, errs by ~u*log2(n), several
    # times the bound of a float32 accumulation. Centred means keep a stored mean exact.
    for dtype in ("float16", "bfloat16"):
        for rank, layout, batch in ((2, "first", 8192), (4, "first", 512), (4, "last", 512)):
            yield _bn("bn_half", rank=rank, layout=layout, batch=batch, dtype=dtype,
                      steps=2, special="centred",
                      note=f"{dtype}, rank {rank}, channels {layout}, 8192 values a channel")


@family
def _bn_device() -> Iterator[Case]:
    """Inputs where a GPU takes another path (they run on the CPU too, as every case does).

    PyTorch hands BatchNorm to cuDNN only when epsilon is at least cuDNN's minimum (1e-5):
    one epsilon on each side of it, on the fused-kernel shape with a tiny-variance channel
    so epsilon shows. Then a batch of one (the reduction is the spatial extent alone) and
    8192 values a channel from a large spatial extent, where GPU kernels change their
    reduction strategy. float16 and bfloat16 at rank 4 are ``bn_half``'s (a small
    bfloat16 case cannot be bounded within 1e-2: its output rounding alone is ~1e-2).
    """
    for eps in (9.9e-6, 1.01e-5):
        yield _bn("bn_device", epsilon=eps, dtype="float32", special="tiny_variance",
                  tiny_mean=1e-3, batch=32, channels=4,
                  note=f"float32 rank 4, epsilon {eps}: just {'below' if eps < 1e-5 else 'above'}"
                       " cuDNN's minimum 1e-5; channel 1 has mean and std 1e-3")
    yield _bn("bn_device", dtype="float32", batch=1, spatial=(6, 6),
              note="float32 rank 4, batch of one: 36 values a channel, all spatial")
    yield _bn("bn_device", dtype="float32", batch=2, channels=2, spatial=(64, 64), steps=2,
              note="float32 rank 4, spatial 64x64: 8192 values a channel")


@family
def _bn_sequence() -> Iterator[Case]:
    yield _bn("bn_sequence", dtype="float64", steps=8, momentum=0.3, offset=2.0, spread=3.0,
              note="8 training steps on fresh batches, then inference")


@family
def _dropout() -> Iterator[Case]:
    def case(fam: str, shape: tuple[int, ...], rate: float, dtype: str = "float32",
             noise_shape: tuple[int, ...] | None = None, note: str = "") -> Case:
        tol = elementwise_tolerance(dtype)
        params: dict[str, Param] = {"shape": shape, "dtype": dtype, "rate": rate,
                                    "noise_shape": noise_shape}
        return Case.make("dropout", fam, _seed(fam, sorted(params.items())), tol, note=note,
                         **params)

    for rate in (0.0, 0.1, 0.5, 0.9, 1.0):
        yield case("do_rate", (64, 128), rate, note=f"rate {rate}")
    for shape in ((4096,), (8, 16, 32), (4, 8, 8, 8), (2, 4, 4, 4, 8)):
        yield case("do_shape", shape, 0.5, note=f"shape {shape}")
    for dtype in ("float16", "float64"):
        yield case("do_dtype", (64, 128), 0.3, dtype=dtype, note=f"{dtype} input")
    for noise in ((32, 1, 16), (1, 64, 1)):
        yield case("do_noise_shape", (32, 64, 16), 0.5, noise_shape=noise,
                   note=f"mask broadcast over noise_shape {noise}")
    # Channel ("spatial") dropout: one draw per sample and channel, channels last.
    spatial: tuple[tuple[int, ...], ...] = ((16, 12, 32), (8, 6, 6, 32), (4, 4, 4, 4, 32))
    for sshape in spatial:
        channel_mask = (sshape[0], *([1] * (len(sshape) - 2)), sshape[-1])
        yield case("do_spatial", sshape, 0.5, noise_shape=channel_mask,
                   note=f"whole channels dropped: noise_shape {channel_mask}")


@family
def _centering() -> Iterator[Case]:
    for flags in ("mean_only", "scale_off", "center_off", "affine_off"):
        for rank in (2, 4):
            # Explicit epsilon: centering is about flags, and tf.nn has no default epsilon.
            # Rank 4 passes an explicit momentum: with the default alone, the momentum
            # convention (and so the default's value) cannot be told apart.
            yield _bn("ce_flags", op="centering", rank=rank, dtype="float64", flags=flags,
                      batch=8, offset=3.0, spread=2.0, epsilon=1e-3,
                      momentum=0.2 if rank == 4 else "default",
                      note=f"{flags} on rank {rank}")


def generate(families: list[str] | None = None, scale: int = 1) -> list[Case]:
    """All cases of the named families (all but ``OPT_IN`` when ``None``), in a stable
    order.

    ``scale`` > 1 adds ``scale - 1`` replicas of every case (for the benchmark's
    growth runs): the replica index is a parameter, so ids stay content-derived
    and each replica draws its own inputs from its own seed.
    """
    names = [n for n in FAMILIES if n not in OPT_IN] if families is None else families
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown case family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale}")
    base = [c for n in names for c in FAMILIES[n]()]
    cases = base + [_replica(c, r) for r in range(1, scale) for c in base]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "two cases share an id"
    return cases


def _replica(case: Case, index: int) -> Case:
    params = {**case.param_dict(), "replica": index}
    seed = _seed(case.family, sorted(params.items()))
    # A replica draws anew, so its per-channel bounds are its own.
    tol = case.tolerance if case.op == "dropout" else _bn_tolerance(params, seed)
    replica = Case.make(case.op, case.family, seed, tol, note=f"{case.note} (replica {index})",
                        **params)
    return dataclasses.replace(replica, informational=case.informational)


def channel_draws(rng: np.random.Generator, channels: int, offset: float, spread: float,
                  special: str, tiny_mean: Param = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation, the first draws of a batch-norm case.

    One function for the inputs and the tolerance, so a channel's bound always
    describes the channel that was drawn.
    """
    means = offset + spread * rng.uniform(-1, 1, channels)
    stds = spread * rng.uniform(0.5, 1.5, channels)
    if special == "zero_variance":
        stds[0] = 0.0
        stds[1] = 1e-5
    elif special == "tiny_variance":
        stds[1] = 1e-3
        if tiny_mean is not None:
            # E.g. 1e-3: epsilon still shows, and even float32 can measure it (a tiny
            # channel at its drawn mean cancels a mean up to 1e3 times its spread).
            means[1] = float(tiny_mean)  # type: ignore[arg-type]
    elif special == "centred":
        # Means at zero: in a half dtype a stored mean then costs no precision, and the
        # checks stay decisive; the variance's sum still grows with the reduction.
        means[:] = 0.0
    return means, stds


def inputs_for(case: Case) -> dict[str, np.ndarray]:
    """Draw the case's arrays from its seed, rounded to the case dtype.

    bfloat16 values are returned as float32 arrays (see ``round_to_dtype``).
    """
    rng = np.random.default_rng(case.seed)
    if case.op == "dropout":
        # Values in [1, 2): a dropped element (0) is never confused with a kept one.
        return {"x": round_to_dtype(1.0 + rng.random(case.shape), case.dtype)}
    offset = float(case.get("offset", 0.0) or 0.0)  # type: ignore[arg-type]
    spread = float(case.get("spread", 1.0) or 1.0)  # type: ignore[arg-type]
    c, axis = case.channels, case.channel_axis
    bshape = [1] * len(case.shape)
    bshape[axis] = c
    means, stds = channel_draws(rng, c, offset, spread, str(case.get("special", "none")),
                                case.get("tiny_mean"))
    chan_mean, chan_std = means.reshape(bshape), stds.reshape(bshape)

    def batch() -> np.ndarray:
        return round_to_dtype(chan_mean + chan_std * rng.standard_normal(case.shape),
                              case.dtype)

    train = np.stack([batch() for _ in range(case.steps)])
    return {
        "train": train,
        "eval": batch(),
        "gamma": round_to_dtype(rng.uniform(0.5, 2.0, c), case.dtype),
        "beta": round_to_dtype(rng.uniform(-1.0, 1.0, c), case.dtype),
    }
