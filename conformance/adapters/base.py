"""The adapter protocol: the one interface between the suite and a framework.

An adapter module holds every quirk of its framework; nothing outside it imports
the framework. The worker (``conformance.runner``) calls, in this order:
``load()`` once, ``version()``, ``documented()``, then for every case and every
implementation of the case's op: ``seed(case.seed)``, ``supports(case)`` and
``run(case, inputs)``.

Output keys an implementation returns (all optional; return what applies):

batchnorm and centering
    ``y_train``      (steps, *shape)  training-mode output of each training step
    ``running_mean`` (steps, C)       running mean after each training step
    ``running_var``  (steps, C)       running variance after each training step
    ``y_eval``       shape            inference-mode output on ``eval`` after the steps
    ``mean_after_forward``  (C,)  running mean of a fresh layer after one training-mode
                                  forward on ``train[0]``, with no backward pass
    ``mean_after_backward`` (C,)  the same, after that forward and a backward pass
    ``frozen_train`` shape        output on ``train[0]`` of a fresh layer with
                                  ``trainable=False`` called in training mode
dropout
    ``y_train`` shape   training-mode output on ``x``
    ``y_eval``  shape   inference-mode output on ``x``

A training step is what it is in the framework's normal use (forward, and
backward where that is how users train) but never changes gamma and beta: the
oracle holds them fixed. Running statistics start at the framework's own
initial values (0 and 1 everywhere so far).

Case parameters ``momentum`` and ``epsilon`` are floats passed as the framework's
own argument, or ``"default"`` (pass nothing); ``momentum == "none"`` is
PyTorch's cumulative-average option. Centering cases carry ``flags``:
``mean_only``, ``scale_off``, ``center_off`` or ``affine_off``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.cases.model import Case

Outputs = dict[str, np.ndarray]


# Rows for code the suite itself ships (a recipe users would write, e.g. a mean-only
# centering layer) are named ``recipe:<framework>.<Class>``: no such module exists, and
# the name must not pretend otherwise.
RECIPE_PREFIX = "recipe:"

# What a mean-centering recipe written by the suite decides by itself: whether it divides,
# whether it adds beta, and how it keeps and uses its running mean. Only the arithmetic
# (the framework's mean and subtraction) is the framework's.
RECIPE_CENTERING: frozenset[str] = frozenset({
    "variance_normalized", "offset_applied", "momentum_convention", "momentum_default",
    "running_variance_update", "stats_update_trigger", "inference_statistics"})


def channel_mask_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The mask of channels-last spatial dropout: one draw per sample and channel."""
    return (shape[0], *([1] * (len(shape) - 2)), shape[-1])


class Unsupported(Exception):
    """Raised by ``run`` when the implementation cannot express the case."""


@dataclass(frozen=True)
class DocClaim:
    """A documented value, read from the installed framework or quoted from its docs.

    ``verified`` is ``True`` when the quote was found in the installed docstring
    (or the value was read from a signature), ``False`` when the installed
    docstring no longer contains it, ``None`` for web-only sources.
    """

    implementation: str
    behaviour: str
    value: str
    source: str
    quote: str = ""
    verified: bool | None = True

    def to_json(self) -> dict[str, Any]:
        return {"implementation": self.implementation, "behaviour": self.behaviour,
                "value": self.value, "source": self.source, "quote": self.quote,
                "verified": self.verified}


@dataclass
class Implementation(abc.ABC):
    """One public API as users write it, e.g. ``torch.nn.BatchNorm2d``."""

    name: str
    op: str
    meta: dict[str, Any] = field(default_factory=dict)

    def qualify(self, case: Case) -> str:
        """The report row for this case: ``name``, or ``name[qualifier]`` when the API
        takes a different internal path for this input (rank, dtype, flags)."""
        return self.name

    def supports(self, case: Case) -> str | None:
        """``None`` when the case can run, else a one-line reason (becomes UNSUPPORTED)."""
        return None

    # --- provenance: what the report may attribute to the framework -------------------
    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        """Behaviours whose observed value comes from the suite's own code for this row
        (a recipe's constants, a stand-in for a flag the API lacks). They are reported
        ``not_applicable``, never as the framework's behaviour."""
        return frozenset()

    def demonstration(self, case: Case) -> str:
        """Non-empty for a deliberate-misuse row: the scenario it demonstrates (e.g. the
        UPDATE_OPS a user forgot). Its differences are not documentation contradictions."""
        return ""

    def mask_shape(self, case: Case) -> tuple[int, ...] | None:
        """Dropout: the mask shape this API promises for ``case`` (1 along axes where one
        draw is shared), or ``None`` when it has no keep/drop mask (AlphaDropout)."""
        noise = case.get("noise_shape")
        return noise if isinstance(noise, tuple) else case.shape

    def config(self, case: Case) -> dict[str, Any]:
        """Arguments the adapter passes beyond the case's own (renorm clipping, virtual
        batch size, ...), recorded with the result so the oracle can model them."""
        return {}

    def portable(self) -> Portable | None:
        """The row's variable IO (build, set, run, read back) when it is a batch-norm
        layer a model can be ported into or out of; ``None`` for everything else."""
        return None

    @abc.abstractmethod
    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        """Run the case and return outputs as NumPy arrays (see the module docstring)."""


# Roles a batch-norm variable plays, whatever the framework calls it: the port maps
# variables by role (torch ``weight`` -> Keras ``gamma``), never by name.
ROLES: tuple[str, ...] = ("gamma", "beta", "running_mean", "running_var", "count")


@dataclass(frozen=True)
class Variable:
    """One variable of a built layer, read from the layer itself: the framework's own name
    (the key its checkpoints use), the role it plays, and its value in its own layout."""

    role: str
    name: str
    value: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "name": self.name, "shape": list(self.value.shape),
                "dtype": str(self.value.dtype)}


class Portable(abc.ABC):
    """Variable IO of one batch-norm layer class, for ``conformance port``.

    The port runs the source and the target each in its own environment through this
    interface, so every framework call stays in the adapter module: build the layer
    from constructor arguments, load variables by role, run inference or one training
    step (forward and backward, no optimizer, as ``run`` does), and read the variables
    back under the framework's own names.
    """

    @abc.abstractmethod
    def arguments(self, shape: tuple[int, ...], channel_axis: int, momentum: float | str,
                  epsilon: float | str) -> dict[str, Any]:
        """Constructor arguments under the framework's names. ``momentum`` is a float in
        the framework's own convention, ``"default"`` (pass nothing) or ``"none"`` (a
        cumulative average; :class:`Unsupported` where there is none); ``epsilon`` a float
        or ``"default"``. Values are plain Python, so they print as users write them."""

    @abc.abstractmethod
    def build(self, arguments: Mapping[str, Any], shape: tuple[int, ...], dtype: str) -> Any:
        """A layer built for inputs of ``shape``, its variables at their initial values."""

    @abc.abstractmethod
    def read(self, layer: Any) -> list[Variable]:
        """Every variable the layer holds, in its own names and layout."""

    @abc.abstractmethod
    def write(self, layer: Any, values: Mapping[str, np.ndarray]) -> None:
        """Load values by role; roles the layer does not hold are ignored."""

    @abc.abstractmethod
    def infer(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """The layer's inference-mode output on ``x``."""

    @abc.abstractmethod
    def train(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """One training step on ``x`` (see the module docstring); its output."""

    def row(self, layer: Any) -> str:
        """The report row this built layer runs as (a path-qualified name where the
        framework takes different paths by input)."""
        return ""


def case_variables(port: Portable, case: Case) -> list[dict[str, Any]]:
    """What the runner records with a batch-norm result: the variables of a layer built
    with the case's arguments, read from that layer."""
    layer = port.build(port.arguments(case.shape, case.channel_axis, case.get("momentum"),  # type: ignore[arg-type]
                                      case.get("epsilon")), case.shape, case.dtype)  # type: ignore[arg-type]
    return [v.to_json() for v in port.read(layer)]


class Adapter(abc.ABC):
    """A framework: how to import it, which implementations it has, what it documents."""

    framework: str
    # Where the work runs: the worker sets ``device`` (one of ``devices``, optionally with
    # an index, ``cuda:1``) before ``load``, which raises when the machine lacks it.
    devices: tuple[str, ...] = ("cpu",)
    device: str = "cpu"

    @abc.abstractmethod
    def load(self) -> None:
        """Import the framework; an exception here becomes ERROR for the whole run."""

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def implementations(self) -> Sequence[Implementation]: ...

    def documented(self) -> list[DocClaim]:
        """Documented values from signatures and docstrings of the installed framework."""
        return []

    def seed(self, seed: int) -> None:  # noqa: B027  (optional hook; most adapters need it)
        """Seed the framework's random generators before each case."""

    def environment(self) -> dict[str, str]:
        """Extra header facts: ``device`` as the framework names it, build flags."""
        return {"device": "cpu"}


def hyperparameter_kwargs(case: Case, api: str, momentum: str = "momentum",
                          epsilon: str = "epsilon") -> dict[str, float]:
    """The case's momentum and epsilon under the framework's argument names, none passed for
    ``"default"``; a cumulative average (momentum ``"none"``) is UNSUPPORTED for ``api``."""
    return momentum_epsilon_kwargs(case.get("momentum"), case.get("epsilon"),  # type: ignore[arg-type]
                                   api, momentum, epsilon)


def momentum_epsilon_kwargs(m: float | str, e: float | str, api: str,
                            momentum: str = "momentum",
                            epsilon: str = "epsilon") -> dict[str, float]:
    """``m`` and ``e`` (a float, ``"default"``: pass nothing, momentum ``"none"``: a
    cumulative average, UNSUPPORTED for ``api``) under the framework's argument names;
    what the adapters' rows and their ``Portable`` layers both pass."""
    if m == "none":
        raise Unsupported(f"{api} has no cumulative-average momentum")
    out: dict[str, float] = {}
    if m != "default":
        out[momentum] = float(m)
    if e != "default":
        out[epsilon] = float(e)
    return out


def channel_to_axis(values: np.ndarray, case: Case) -> np.ndarray:
    """Reshape a per-channel vector so it broadcasts along the case's channel axis."""
    shape = [1] * len(case.shape)
    shape[case.channel_axis] = case.channels
    return values.reshape(shape)
