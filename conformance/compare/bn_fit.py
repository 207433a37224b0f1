"""Fitting the batch-norm convention space to one implementation row's outputs.

The space is fitted in separable groups, each against the outputs it alone
depends on: the training output (variance estimator, epsilon placement, floor,
precision, gamma), the running-mean trajectory (momentum convention and
precision), the running-variance trajectory (estimator folded in), the inference
output (running or batch statistics, fed the implementation's own final running
statistics so earlier choices cannot leak in).

Nothing documented enters here. A default the outputs have not measured leaves
the cases that pass it out of the fit (they cannot be predicted without a guess).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np

from conformance.cases.model import Case, Tolerance, epsilon_of, momentum_of
from conformance.compare import special
from conformance.compare.errors import ratio, ratios
from conformance.compare.evidence import Evidence, FitCache, MomentCache, is_special, tolerance
from conformance.compare.fit import Candidate, Score, fit, grid
from conformance.oracle import batchnorm as bn
from conformance.oracle import ghost

# (content of the evidence, effective epsilon, conventions applying it as given)
TrainingKey = tuple[tuple[object, ...], float, bn.Conventions]


def conventions(c: Candidate) -> bn.Conventions:
    return bn.Conventions(**c)


@lru_cache(maxsize=65536)
def as_given(conv: bn.Conventions, precision: str) -> bn.Conventions:
    """``conv`` with ``precision`` (``epsilon_precision`` or ``momentum_precision``) set to
    as_given: a value already rounded must not be rounded again. Cached: the fits derive
    the same few variants tens of thousands of times (Conventions is frozen)."""
    return conv.with_(**{precision: "as_given"})


def uses_default_epsilon(case: Case) -> bool:
    return case.get("epsilon") == "default"


def uses_default_momentum(case: Case) -> bool:
    return case.get("momentum") == "default"


class BatchNormInference:
    """The fitted groups of one row. ``epsilon_default`` and ``new_weight`` (the weight the
    first update gives the new batch mean) are measured values or ``None``."""

    def __init__(self, evidence: Sequence[Evidence], moments: MomentCache | None = None,
                 band: Callable[[Evidence, str], Tolerance] = tolerance,
                 fits: FitCache | None = None) -> None:
        self.ev = list(evidence)
        # The bound a candidate must meet: the case's tolerance, or a measured narrower
        # precision's (statistics of float64 inputs accumulated in float32).
        self.band = band
        self.epsilon_default: float | None = None
        self.floor: float | None = None  # a measured epsilon floor, a candidate of the fit
        self._moments: MomentCache = {} if moments is None else moments
        self._keyed_by_case = moments is not None
        self._fits = FitCache() if fits is None else fits
        self._ratios = self._fits.ratios
        self._content: dict[tuple[int, str], tuple[object, ...]] = {}
        self._new_weight: tuple[float | None, list[str]] | None = None
        self._steps: special.StepCache = {}

    def moments(self, e: Evidence) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """``batch_moments`` of each training step of ``e``, computed once per case."""
        key = e.case.id if self._keyed_by_case else id(e)
        if key not in self._moments:
            self._moments[key] = [bn.batch_moments(x, e.case.channel_axis)
                                  for x in e.inputs["train"]]
        return self._moments[key]

    # --- the default momentum, convention-free ---------------------------------------
    def new_weight(self) -> tuple[float | None, list[str]]:
        """Weight the first update gives the new batch mean, and the cases it is read from."""
        if self._new_weight is None:
            ws, ids = [], []
            for e in self.ev:
                if not uses_default_momentum(e.case) or "running_mean" not in e.outputs:
                    continue
                mean, _, _ = self.moments(e)[0]
                rm1 = np.asarray(e.outputs["running_mean"][0], dtype=np.float64)
                big = np.abs(mean) > 0.05
                if big.any():
                    ws.append(float(np.median(rm1[big] / mean[big])))
                    ids.append(e.case.id)
            self._new_weight = ((float(np.median(ws)) if ws else None), ids)
        return self._new_weight

    def default_momentum_for(self, convention: str) -> float | None:
        """The measured default momentum in ``convention``'s terms (None: not measured)."""
        w, _ = self.new_weight()
        if w is None:
            return None
        return w if convention == "weight_on_new" else 1.0 - w

    # --- training output ---------------------------------------------------------------
    def fit_training(self, space: Mapping[str, Sequence[object]] | Sequence[Candidate],
                     explicit_only: bool = False) -> list[tuple[Candidate, Score]]:
        """Fit ``space`` (Conventions fields, or a list of candidates) against every
        training output it can predict."""
        candidates = grid(space) if isinstance(space, Mapping) else [dict(c) for c in space]
        plain = [conventions({**c, "epsilon_floor": None}) for c in candidates]
        floors = [c.get("epsilon_floor") for c in candidates]
        used = [e for e in self.ev if "y_train" in e.outputs and not (
            uses_default_epsilon(e.case) and (explicit_only or self.epsilon_default is None))]
        keys: dict[int, list[TrainingKey]] = {}
        for e in used:
            eps = epsilon_of(e.case, self.epsilon_default or 0.0)
            content = self.content(e)
            # The variant computed: the effective epsilon (precision and floor applied),
            # then conventions that apply it as given.
            keys[id(e)] = [(content, _floored(eps, f, conv),
                            as_given(conv, "epsilon_precision"))
                           for f, conv in zip(floors, plain, strict=True)]
            self._training_ratios(e, keys[id(e)])
        index = {id(c): j for j, c in enumerate(candidates)}

        def evaluate(c: Candidate) -> dict[str, float]:
            j = index[id(c)]
            return {e.case.id: self._ratios[keys[id(e)][j]] for e in used}

        return fit(candidates, evaluate)

    def content(self, e: Evidence, key: str = "y_train") -> tuple[object, ...]:
        """What a ratio of output ``key`` of ``e`` depends on besides the candidate: the
        case (its inputs), the bits of the output, its bound and the row's arguments."""
        if (id(e), key) not in self._content:
            y = np.ascontiguousarray(e.outputs[key])
            tol = self.band(e, key)
            digest = hashlib.blake2b(y.tobytes(), digest_size=16)
            for bound in (tol.rtol, tol.atol):  # values and shape: how they broadcast
                b = np.ascontiguousarray(bound, dtype=np.float64)
                digest.update(repr(b.shape).encode() + b.tobytes())
            self._content[(id(e), key)] = (
                e.case.id, key, y.dtype.str, y.shape, digest.hexdigest(),
                json.dumps(e.config, sort_keys=True, default=str))
        return self._content[(id(e), key)]

    def _training_ratios(self, e: Evidence, keys: Sequence[TrainingKey]) -> None:
        """Worst error/tol over the training steps of ``e`` for each missing key (content,
        effective epsilon, conventions), all variants of a step at once."""
        todo = list(dict.fromkeys(k for k in keys if k not in self._ratios))
        if not todo:
            return
        variants = [(eff, conv) for _, eff, conv in todo]
        if is_special(e):
            self._special_training_ratios(e, todo, variants)
            return
        worst = [0.0] * len(todo)
        tol = self.band(e, "y_train")
        for i, (x, moments) in enumerate(zip(e.inputs["train"], self.moments(e), strict=True)):
            expected = bn.training_outputs(x, e.case.channel_axis, variants, e.inputs["gamma"],
                                           e.inputs["beta"], moments)
            got = ratios(e.outputs["y_train"][i], expected, tol)
            worst = [max(w, r) for w, r in zip(worst, got, strict=True)]
        for key, w in zip(todo, worst, strict=True):
            self._ratios[key] = w

    def _special_training_ratios(self, e: Evidence, todo: Sequence[TrainingKey],
                                 variants: Sequence[tuple[float, bn.Conventions]]) -> None:
        """A row the plain oracle cannot express (renorm, ghost batches): its first step,
        predicted by the matching oracle. The first output does not depend on the
        momentum (renorm's corrections start from the initial moving statistics), so
        the momentum passed is immaterial; later steps are judged by the checks."""
        first = {**e.inputs, "train": e.inputs["train"][:1]}
        tol = self.band(e, "y_train")
        config = e.config or {}
        if config.get("virtual_batch_size") is not None and not config.get("renorm"):
            # Ghost batches: every variant at once, per virtual batch (the same maths).
            expected = ghost.training_outputs(
                e.inputs["train"][0], e.case.channel_axis, int(config["virtual_batch_size"]),
                variants, e.inputs["gamma"], e.inputs["beta"],
                str(config.get("ghost_grouping", "strided")))
            for key, r in zip(todo, ratios(e.outputs["y_train"][0], expected, tol), strict=True):
                self._ratios[key] = r
            return
        for key, (eff, conv) in zip(todo, variants, strict=True):
            variant = special.batchnorm(e.case, e.config, first, conv, 0.5, eff)
            assert variant is not None
            self._ratios[key] = ratio(e.outputs["y_train"][0], variant.outputs["y_train"][0],
                                      tol)

    # --- running statistics --------------------------------------------------------------
    def fit_running(self, key: str, space: Mapping[str, Sequence[object]],
                    fixed: Candidate) -> list[tuple[Candidate, Score]]:
        used = [e for e in self.ev if key in e.outputs and e.case.get("momentum") != "none"]

        def evaluate(c: Candidate) -> dict[str, float]:
            conv = conventions({**fixed, **c})
            m_default = self.default_momentum_for(conv.momentum_convention)
            out = {}
            for e in used:
                if uses_default_momentum(e.case) and m_default is None:
                    continue
                momentum = momentum_of(e.case, m_default or 0.0)
                # A measured default already carries its precision: rounding it again
                # would make default cases "decide" the precision by an artefact.
                conv_e = (as_given(conv, "momentum_precision")
                          if uses_default_momentum(e.case) else conv)
                # Statistics that never update are the initial values whatever the rest.
                never = conv.stats_update_trigger == "never"
                memo = (self.content(e, key), "never") if never else (
                    self.content(e, key), momentum, conv_e.momentum_convention,
                    conv_e.running_variance_update, conv_e.momentum_precision,
                    # a special row's prediction may read the measured default epsilon
                    self.epsilon_default if is_special(e) else None)
                if memo not in self._ratios:
                    exp = self._running_prediction(e, key, momentum, conv_e)
                    if exp is None:
                        continue
                    self._ratios[memo] = ratio(e.outputs[key], exp, self.band(e, key))
                out[e.case.id] = self._ratios[memo]
            return out

        return fit(grid(space), evaluate)

    def _running_prediction(self, e: Evidence, key: str, momentum: float | None,
                            conv: bn.Conventions) -> np.ndarray | None:
        if not is_special(e):
            index = 0 if key == "running_mean" else 1
            shared = (e.case.id, momentum, conv.stats_update_trigger, conv.momentum_convention,
                      conv.running_variance_update, conv.momentum_precision)
            if shared not in self._fits.running:
                self._fits.running[shared] = bn.running_statistics(
                    e.inputs["train"], e.case.channel_axis, momentum, conv,
                    moments=self.moments(e))
            return self._fits.running[shared][index]
        if uses_default_epsilon(e.case) and self.epsilon_default is None and (
                e.config or {}).get("renorm"):
            return None  # renorm's moving stddev includes epsilon; ghost statistics do not
        try:
            stats = special.running(e.case, e.config, e.inputs, conv, momentum,
                                    epsilon_of(e.case, self.epsilon_default or 0.0),
                                    conv.momentum_precision, self._steps)
        except ValueError:  # e.g. no cumulative average for renorm
            return None
        return None if stats is None else stats[0 if key == "running_mean" else 1]

    # --- inference output ----------------------------------------------------------------
    def fit_inference(self, fixed: Candidate) -> list[tuple[Candidate, Score]]:
        conv = conventions(fixed)

        def evaluate(c: Candidate) -> dict[str, float]:
            out = {}
            for e in self.ev:
                if "y_eval" not in e.outputs or (uses_default_epsilon(e.case)
                                                 and self.epsilon_default is None):
                    continue
                eps = epsilon_of(e.case, self.epsilon_default or 0.0)
                x = e.inputs["eval"]
                if c["inference_statistics"] == "batch":
                    exp = bn.training_output(x, e.case.channel_axis, eps, e.inputs["gamma"],
                                             e.inputs["beta"], conv)
                elif "running_mean" in e.outputs and "running_var" in e.outputs:
                    exp = bn.normalize(x, e.case.channel_axis, e.outputs["running_mean"][-1],
                                       e.outputs["running_var"][-1], eps, e.inputs["gamma"],
                                       e.inputs["beta"], conv)
                else:
                    continue
                out[e.case.id] = ratio(e.outputs["y_eval"], exp, self.band(e, "y_eval"))
            return out

        return fit(grid({"inference_statistics": bn.INFERENCE_STATISTICS}), evaluate)


def _floored(eps: float, floor: object, conv: bn.Conventions) -> float:
    """Effective epsilon of a candidate: precision first, then the floor (if any)."""
    eff = bn.effective_epsilon(eps, conv)
    return eff if floor is None else max(eff, float(floor))  # type: ignore[arg-type]
