"""Shrinking: the smallest, plainest configuration that still shows a finding.

Each round proposes, for every finding still shrinking, the one-step simplifications of
its current case (fewer dimensions, smaller sizes, one channel, one step, plain values,
no poison, default hyperparameters) and, when more than one held last round,
all of them at once. The caller runs every proposal in one batch (one worker per
framework and round, so the cost is a few imports, not one per candidate) and says
which finding keys each case shows; a finding moves to the combined case when it holds,
else to the smallest single step that holds, and stops when none does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from conformance.cases.model import Case, Param
from conformance.explore.sampler import case_of

Evaluate = Callable[[list[Case]], Mapping[str, set[Hashable]]]

# (The dtype is not simplified: its precision class is part of a root cause's signature,
# see group.py, so a shrunk finding keeps the class it was found in.)
_PLAIN: dict[str, Param] = {"poison": "none", "special": "none", "offset": 0.0, "spread": 1.0,
                            "momentum": "default", "epsilon": "default", "steps": 1,
                            "noise_shape": None, "rate": 0.5}


def size(case: Case) -> tuple[int, int, int]:
    """Elements, then rank, then how many parameters differ from the plainest values."""
    odd = sum(1 for k, v in _PLAIN.items() if k in case.param_dict() and case.get(k) != v)
    return (math.prod(case.shape) * case.steps, len(case.shape), odd)


def _with(case: Case, **changes: Param) -> Case:
    return case_of(case.op, {**case.param_dict(), **changes})


def _shapes(case: Case) -> list[tuple[int, ...]]:
    shape, axis = list(case.shape), case.channel_axis
    out: list[tuple[int, ...]] = []
    if case.op == "batchnorm":
        spatial = [i for i in range(len(shape)) if i not in (0, axis)]
        if spatial:  # drop one spatial axis
            out.append(tuple(d for i, d in enumerate(shape) if i != spatial[-1]))
        for i in range(len(shape)):
            for target in (1, 2, shape[i] // 2):
                if 1 <= target < shape[i] and not (i == 0 and target == 1 and shape[0] > 2):
                    out.append(tuple(target if j == i else d for j, d in enumerate(shape)))
        if shape[0] > 2:
            out.append(tuple(2 if j == 0 else d for j, d in enumerate(shape)))
    else:
        if len(shape) > 1:
            out.append(tuple(shape[1:]))
        for i in range(len(shape)):
            for target in (1, 2, shape[i] // 2):
                if 1 <= target < shape[i]:
                    out.append(tuple(target if j == i else d for j, d in enumerate(shape)))
    return list(dict.fromkeys(out))


def candidates(case: Case) -> list[Case]:
    """One-step simplifications of ``case``, plainest values first, then shapes."""
    out: list[Case] = []
    params = case.param_dict()
    for key, plain in _PLAIN.items():
        if key in params and params[key] != plain:
            out.append(_with(case, **{key: plain}))
    for shape in _shapes(case):
        changes: dict[str, Param] = {"shape": shape}
        if case.op == "batchnorm" and len(shape) == 2:
            changes["channel_axis"] = "first"
            if case.channel_axis != 1:  # the channel axis moves to 1
                changes["shape"] = (shape[0], case.shape[case.channel_axis])
        noise = params.get("noise_shape")
        if case.op == "dropout" and isinstance(noise, tuple):
            if len(shape) != len(noise):
                changes["noise_shape"] = None
            else:
                changes["noise_shape"] = tuple(min(n, d) for n, d in zip(noise, shape,
                                                                          strict=True))
        out.append(_with(case, **changes))
    unique = {c.id: c for c in out if c.id != case.id}
    return list(unique.values())


_SHAPE_KEYS = ("shape", "channel_axis", "noise_shape")


def diff(base: Case, step: Case) -> dict[str, Param]:
    """The parameters ``step`` changes relative to ``base``."""
    params = base.param_dict()
    return {k: v for k, v in step.param_dict().items() if params.get(k) != v}


def combine(base: Case, diffs: list[dict[str, Param]]) -> Case | None:
    """All of ``diffs`` applied to ``base`` at once: every value change, and the
    smallest of the shape changes (shapes do not compose)."""
    if len(diffs) < 2:
        return None
    merged = dict(base.param_dict())
    shapes = [d for d in diffs if "shape" in d]
    for d in diffs:
        merged.update({k: v for k, v in d.items() if k not in _SHAPE_KEYS})
    if shapes:
        merged.update(min(shapes, key=lambda d: math.prod(d["shape"])))  # type: ignore[arg-type]
    try:
        case = case_of(base.op, merged)
    except ValueError:
        return None
    return None if case.id == base.id else case


@dataclass
class Track:
    key: Hashable
    case: Case
    done: bool = False
    held: list[dict[str, Param]] = field(default_factory=list)


def shrink(start: Mapping[Hashable, Case], evaluate: Evaluate, rounds: int,
           more_time: Callable[[], bool] = lambda: True) -> dict[Hashable, Case]:
    """The smallest case found for every finding key within ``rounds`` rounds."""
    tracks = [Track(k, c) for k, c in start.items()]
    for _ in range(rounds):
        live = [t for t in tracks if not t.done]
        if not live or not more_time():
            break
        proposals: dict[int, list[Case]] = {}
        for i, t in enumerate(tracks):
            if t.done:
                continue
            both = combine(t.case, t.held)
            proposals[i] = ([both] if both else []) + candidates(t.case)
        batch = {c.id: c for cs in proposals.values() for c in cs}
        if not batch:
            break
        shows = evaluate(list(batch.values()))
        for i, cs in proposals.items():
            t = tracks[i]
            held = [c for c in cs if t.key in shows.get(c.id, set())]
            if not held:
                t.done = True
                continue
            both = combine(t.case, t.held)
            if both is not None and both in held:
                t.case, t.held = both, []
                continue
            best = min(held, key=size)
            # The other steps that held, as changes still to try on top of the best one
            # (a shape change no longer applies to the new shape).
            moved = "shape" in diff(t.case, best)
            t.held = [d for c in held if c is not best and c is not both
                      for d in [diff(t.case, c)] if not (moved and "shape" in d)]
            t.case = best
    return {t.key: t.case for t in tracks}
