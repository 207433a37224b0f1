"""The oracle's inference step as standalone source: what the report shows and porting exports.

A hand-written predictor needs one function: a trained batch-norm layer in inference mode,
from its exported variables. That function is :func:`batchnorm.inference`; this module
renders *its own source* (``inspect.getsource`` of it and of the oracle functions it calls,
and of :class:`batchnorm.Conventions`), with the layer's conventions bound as a constant, so
the text a reader copies is the code the oracle runs, never a second copy of the maths
(the copy ``report/porting.py`` used to render had drifted). ``tests/test_predictor.py``
executes the rendered text and requires it to equal the oracle under every convention.
"""

from __future__ import annotations

import inspect
import itertools
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.oracle import batchnorm as bn

# The oracle functions ``bn.inference`` reaches, callees before callers. A helper added to
# one of them without being listed here makes the rendered code raise NameError, which the
# test of every convention catches.
_RUNNING: tuple[Callable[..., Any], ...] = (
    bn._float32, bn.effective_epsilon, bn.denominator, bn._channel_shape, bn.normalize)
_BATCH: tuple[Callable[..., Any], ...] = (
    bn.reduce_axes, bn.batch_moments, bn.unbias, bn.training_output)

_HEADER = '''"""Batch-norm inference from exported variables; the conformance oracle's own code
(conformance/oracle/batchnorm.py), conventions as measured for {label}."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

'''


def conventions_literal(conv: bn.Conventions) -> str:
    """``Conventions(...)`` naming only the fields that differ from the defaults."""
    default = bn.Conventions()
    changed = [f"{k}={getattr(conv, k)!r}" for k in conv.__dataclass_fields__
               if getattr(conv, k) != getattr(default, k)]
    return f"Conventions({', '.join(changed)})"


def source(conv: bn.Conventions, epsilon: float, channel_axis: int = 1,
           label: str = "this layer") -> str:
    """A self-contained module defining ``predict(x, gamma, beta, moving_mean, moving_var,
    epsilon=..., channel_axis=...)`` for a layer with conventions ``conv`` and default
    ``epsilon``. Only the functions the layer's conventions reach are included."""
    funcs = _RUNNING + (_BATCH if conv.inference_statistics == "batch" else ())
    parts = [_HEADER.format(label=label), inspect.getsource(bn.Conventions)]
    parts += [inspect.getsource(f) for f in (*funcs, bn.inference)]
    parts.append(
        f"CONVENTIONS = {conventions_literal(conv)}\n\n\n"
        f"def predict(x, gamma, beta, moving_mean, moving_var, epsilon={epsilon!r}, "
        f"channel_axis={channel_axis!r}):\n"
        "    return inference(x, moving_mean, moving_var, gamma, beta, epsilon, CONVENTIONS,\n"
        "                     channel_axis)\n")
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)


Predict = Callable[..., np.ndarray]
_SERIAL = itertools.count()


def compile_source(text: str) -> Predict:
    """``predict`` from :func:`source`'s text, executed in a fresh namespace (our own
    generated text: the oracle's source and a conventions literal)."""
    name = f"conformance_predictor_{next(_SERIAL)}"
    module = types.ModuleType(name)
    sys.modules[name] = module  # ``dataclass`` looks the defining module up while it runs
    try:
        exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    fn = module.__dict__["predict"]
    assert callable(fn)
    return fn  # type: ignore[no-any-return]
