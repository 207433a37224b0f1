"""NumPy implementations with one planted convention each, written apart from the oracle.

Each class is a straightforward NumPy batch norm, centering or dropout whose
conventions are plain fields (``Knobs``, ``DropKnobs``). The defaults are the
PyTorch-like baseline the meta-tests take as the truth; a plant changes one
field. Nothing here imports ``conformance.oracle``: if the oracle and the
inference shared a bug, a planted row computed by the oracle would hide it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from conformance.adapters.base import Adapter, DocClaim, Implementation, Outputs
from conformance.cases.model import Case


@dataclass(frozen=True)
class Knobs:
    """Batch-norm conventions, PyTorch-like by default."""

    momentum_rule: str = "new"  # new: (1-m)*old + m*batch; old: m*old + (1-m)*batch; cumulative
    default_momentum: float = 0.1
    default_epsilon: float = 1e-5
    epsilon_where: str = "inside_sqrt"  # inside_sqrt, outside_sqrt, no_sqrt
    epsilon_floor: float = 0.0
    normalize_ddof: int = 0  # 1: normalize with the unbiased variance
    running_var: str = "unbiased"  # unbiased, biased, frozen (only the mean moves)
    trigger: str = "forward"  # forward, backward, never
    inference: str = "running"  # running, batch
    gamma: bool = True
    # as_given; float32: the momentum rounded to float32 (MXNet); float32_complement:
    # 1 - momentum rounded to float32 (TF's moving-average decay)
    momentum_precision: str = "as_given"
    epsilon_float32: bool = False
    # (input dtype, dtype the batch statistics are accumulated in, one rounding a step)
    stats_precision: tuple[str, str] | None = None
    batch_of_one_raises: bool = True  # as torch; False: normalizes to beta
    frozen: str = ""  # "inference": trainable=False normalizes with the running statistics
    recipe: frozenset[str] = frozenset()  # behaviours declared to come from suite code
    documented: tuple[tuple[str, str], ...] = ()  # (behaviour, value) the adapter claims
    refuse_epsilon_probes: bool = False  # unsupported: default epsilon on a tiny variance
    # centering
    divide_by_std: bool | None = None  # None: as the case's flags say
    add_offset: bool | None = None


@dataclass(frozen=True)
class DropKnobs:
    """Dropout conventions, PyTorch-like by default."""

    rate_is_keep: bool = False
    scale: bool = True
    shared_batch_axis: bool = False  # one draw shared by every sample of the batch
    drop_bias: float = 1.0  # multiplies the drop probability the generator uses
    inference: str = "identity"  # identity, scaled_by_keep, dropout
    naive_rate_one: bool = False  # scale by 1/(1-rate) even at rate 1: 0 * inf = nan
    ignore_noise_shape: bool = False  # draws every element even where noise_shape is 1
    fixed_drop: float | None = None  # drops (and scales) with this probability at any rate
    gaussian: bool = False  # no mask: multiplies by N(1, rate / (1 - rate)), as GaussianDropout


def _stats(x: np.ndarray, axes: tuple[int, ...],
           accumulate: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel mean, biased variance and the count each reduces over; with
    ``accumulate``, every partial sum is rounded to that dtype (a running sum)."""
    n = int(np.prod([x.shape[a] for a in axes]))
    if accumulate is None:
        return x.mean(axis=axes), x.var(axis=axes), n
    dt = np.dtype(accumulate)
    flat = np.moveaxis(x, axes, tuple(range(len(axes)))).reshape(n, -1).astype(dt)
    mean = np.cumsum(flat, axis=0, dtype=dt)[-1] / dt.type(n)
    sq = (flat - mean) * (flat - mean)
    var = np.cumsum(sq, axis=0, dtype=dt)[-1] / dt.type(n)
    return mean.astype(np.float64), var.astype(np.float64), n


@dataclass
class PlantedBatchNorm(Implementation):
    """Batch norm (op ``batchnorm``) or centering (op ``centering``) under ``knobs``."""

    knobs: Knobs = field(default_factory=Knobs)

    def qualify(self, case: Case) -> str:
        flags = case.get("flags")
        return f"{self.name}[{flags}]" if flags else self.name

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        k = self.knobs
        axis = case.channel_axis
        axes = tuple(a for a in range(len(case.shape)) if a != axis)
        bshape = [1] * len(case.shape)
        bshape[axis] = case.channels
        m_arg, e_arg = case.get("momentum", "default"), case.get("epsilon", "default")
        momentum = None if m_arg == "none" else (
            k.default_momentum if m_arg == "default" else float(m_arg))  # type: ignore[arg-type]
        eps = k.default_epsilon if e_arg == "default" else float(e_arg)  # type: ignore[arg-type]
        if k.epsilon_float32:
            eps = float(np.float32(eps))
        if momentum is not None and k.momentum_precision == "float32":
            momentum = float(np.float32(momentum))
        elif momentum is not None and k.momentum_precision == "float32_complement":
            momentum = 1.0 - float(np.float32(1.0 - momentum))
        eps = max(eps, k.epsilon_floor)
        flags = str(case.get("flags") or "")
        divide = k.divide_by_std if k.divide_by_std is not None else flags != "mean_only"
        offset = k.add_offset if k.add_offset is not None else flags not in ("center_off",
                                                                               "affine_off")
        scale = k.gamma and flags not in ("mean_only", "scale_off", "affine_off")
        gamma = np.asarray(inputs["gamma"], dtype=np.float64).reshape(bshape)
        beta = np.asarray(inputs["beta"], dtype=np.float64).reshape(bshape)

        def normalize(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
            y = x - mean.reshape(bshape)
            if divide:
                v = var.reshape(bshape)
                if k.epsilon_where == "inside_sqrt":
                    y = y / np.sqrt(v + eps)
                elif k.epsilon_where == "outside_sqrt":
                    y = y / (np.sqrt(v) + eps)
                else:
                    y = y / (v + eps)
            if scale:
                y = y * gamma
            return np.asarray(y + beta if offset else y)

        acc = k.stats_precision[1] if k.stats_precision and k.stats_precision[0] == \
            case.dtype else None

        def batch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
            mean, var, n = _stats(x, axes, acc)
            if n == 1 and k.batch_of_one_raises:  # as torch: one value has no unbiased var
                raise ValueError("Expected more than 1 value per channel when training")
            return mean, var, n

        def train_output(x: np.ndarray) -> np.ndarray:
            mean, var, n = batch(x)
            return normalize(x, mean, var if k.normalize_ddof == 0 else var * n / (n - 1))

        rm, rv = np.zeros(case.channels), np.ones(case.channels)
        ys, rms, rvs = [], [], []
        for step, x in enumerate(np.asarray(inputs["train"], dtype=np.float64), start=1):
            ys.append(train_output(x))
            mean, var, n = batch(x)
            if k.trigger != "never":
                rm, rv = self._update(rm, rv, mean, var, n, momentum, step)
            rms.append(rm)
            rvs.append(rv)
        x_eval = np.asarray(inputs["eval"], dtype=np.float64)
        y_eval = train_output(x_eval) if k.inference == "batch" else normalize(x_eval, rm, rv)
        mean0, var0, n0 = batch(np.asarray(inputs["train"][0], dtype=np.float64))
        moved = self._update(np.zeros(case.channels), np.ones(case.channels), mean0, var0, n0,
                             momentum, 1)[0]
        still = np.zeros(case.channels)
        out = {"y_train": np.stack(ys), "running_mean": np.stack(rms),
               "running_var": np.stack(rvs), "y_eval": y_eval,
               "mean_after_forward": moved if k.trigger == "forward" else still,
               "mean_after_backward": still if k.trigger == "never" else moved}
        if k.frozen == "inference":
            x0 = np.asarray(inputs["train"][0], dtype=np.float64)
            out["frozen_train"] = normalize(x0, np.zeros(case.channels), np.ones(case.channels))
        # The inputs' own dtype (bfloat16 is not a name NumPy knows without ml_dtypes).
        return {key: v.astype(inputs["train"].dtype) for key, v in out.items()}

    def recipe_behaviours(self, case: Case) -> frozenset[str]:
        return self.knobs.recipe

    def supports(self, case: Case) -> str | None:
        if self.knobs.refuse_epsilon_probes and case.get("epsilon") == "default" and \
                case.get("special") == "tiny_variance":
            return "planted: no default-epsilon probe runs"
        return None

    def _update(self, rm: np.ndarray, rv: np.ndarray, mean: np.ndarray, var: np.ndarray,
                n: int, momentum: float | None,
                step: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.knobs
        with np.errstate(divide="ignore", invalid="ignore"):  # n == 1: inf, as arithmetic says
            batch_var = var * n / (n - 1) if k.running_var == "unbiased" else var
        if momentum is None or k.momentum_rule == "cumulative":
            w = 1.0 / step
        else:
            w = momentum if k.momentum_rule == "new" else 1.0 - momentum
        new_rv = rv if k.running_var == "frozen" else (1 - w) * rv + w * batch_var
        return (1 - w) * rm + w * mean, new_rv


@dataclass
class PlantedDropout(Implementation):
    knobs: DropKnobs = field(default_factory=DropKnobs)
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def run(self, case: Case, inputs: Mapping[str, np.ndarray]) -> Outputs:
        k = self.knobs
        x = np.asarray(inputs["x"], dtype=np.float64)
        rate = float(case.get("rate"))  # type: ignore[arg-type]
        p_drop = 1.0 - rate if k.rate_is_keep else rate
        if k.fixed_drop is not None and 0.0 < rate < 1.0:
            p_drop = k.fixed_drop
        noise = case.get("noise_shape")
        shape = list(noise) if isinstance(noise, tuple) and not k.ignore_noise_shape \
            else list(x.shape)
        if k.shared_batch_axis:
            shape[0] = 1

        def train() -> np.ndarray:
            if k.gaussian:
                sd = np.sqrt(p_drop / (1.0 - p_drop)) if p_drop < 1.0 else 0.0
                return x * self.rng.normal(1.0, sd, x.shape)
            keep = self.rng.random(shape) >= min(1.0, p_drop * k.drop_bias)
            if not k.scale:
                return x * keep
            if k.naive_rate_one:
                with np.errstate(divide="ignore", invalid="ignore"):
                    return x * keep * (1.0 / np.float64(1.0 - p_drop))
            return x * keep * (1.0 / (1.0 - p_drop) if p_drop < 1.0 else 0.0)

        y_eval = {"identity": x, "scaled_by_keep": x * (1.0 - p_drop)}.get(k.inference)
        out = {"y_train": train(), "y_eval": train() if y_eval is None else y_eval}
        return {key: v.astype(inputs["x"].dtype) for key, v in out.items()}

    def mask_shape(self, case: Case) -> tuple[int, ...] | None:
        return None if self.knobs.gaussian else super().mask_shape(case)


class PlantedAdapter(Adapter):
    """Serves the planted implementations under the ``numpy`` framework name (the loader
    accepts only known frameworks); its version says ``+planted``."""

    framework = "numpy"

    def __init__(self, implementations: Sequence[Implementation]) -> None:
        self._impls = list(implementations)

    def load(self) -> None:
        pass

    def version(self) -> str:
        return f"{np.__version__}+planted"

    def implementations(self) -> Sequence[Implementation]:
        return self._impls

    def documented(self) -> list[DocClaim]:
        return [DocClaim(impl.name, behaviour, value, "planted claim")
                for impl in self._impls if isinstance(impl, PlantedBatchNorm)
                for behaviour, value in impl.knobs.documented]

    def seed(self, seed: int) -> None:
        for impl in self._impls:
            if isinstance(impl, PlantedDropout):
                impl.rng = np.random.default_rng(seed)
