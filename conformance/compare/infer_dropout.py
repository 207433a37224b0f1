"""Behaviour inference for dropout rows, conditional on the observed masks.

Draws are counted on the mask shape the implementation *declares* (its
``mask_shape``: elementwise, ``noise_shape``, or whole channels), never on the
axes along which the observed mask happens to be constant: a mask shared across
the whole batch must not pass as fewer, honest draws. Whether the observed mask
is independent exactly along the declared axes is its own behaviour,
``mask_sharing``. Implementations without a keep/drop mask (AlphaDropout) get
``not_applicable`` for every behaviour read off a mask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from conformance.cases.model import Case
from conformance.compare.errors import compare, ratio
from conformance.compare.evidence import Evidence, tolerance
from conformance.compare.fit import Candidate, Finding, fit, grid, marginal
from conformance.oracle import dropout as do
from conformance.spec import DROP_FRACTION_CONFIDENCE, INCONCLUSIVE, NOT_APPLICABLE

MaskShape = tuple[int, ...] | None
MASK_BEHAVIOURS = ("rate_semantics", "training_scale", "scale_precision", "drop_fraction",
                   "mask_sharing")


def rate_of(e: Evidence) -> float:
    return float(e.case.get("rate"))  # type: ignore[arg-type]


def default_mask_shape(case: Case) -> tuple[int, ...]:
    """What ``Implementation.mask_shape`` returns by default: noise_shape, else elementwise."""
    noise = case.get("noise_shape")
    return noise if isinstance(noise, tuple) else case.shape


def declared(e: Evidence, shapes: Mapping[str, MaskShape] | None) -> MaskShape:
    """The declared mask shape of an evidence case (the default when none was recorded)."""
    if shapes is not None and e.case.id in shapes:
        return shapes[e.case.id]
    return default_mask_shape(e.case)


def _draw_index(kept: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """One cell per declared draw: the first index along every declared-shared axis."""
    if len(shape) != kept.ndim:
        return tuple(slice(None) for _ in range(kept.ndim))
    return tuple(slice(0, 1) if n == 1 and k > 1 else slice(None)
                 for n, k in zip(shape, kept.shape, strict=True))


def mask_counts(e: Evidence, shape: tuple[int, ...] | None = None) -> tuple[int, int]:
    """(dropped, trials), one trial per cell of the declared mask shape."""
    kept = np.asarray(e.outputs["y_train"]) != 0
    draws = kept[_draw_index(kept, shape if shape is not None else default_mask_shape(e.case))]
    return int((~draws).sum()), int(draws.size)


def _constant_along(a: np.ndarray, axis: int) -> bool:
    first = np.take(a, [0], axis=axis)
    return bool(np.array_equal(np.broadcast_to(first, a.shape), a))


def mask_sharing(kept: np.ndarray, shape: tuple[int, ...], p_drop: float,
                 alpha: float) -> tuple[str, str]:
    """(value, detail) for one mask against its declared shape.

    Varying along a declared-shared axis is certain from one mask. Being constant along
    an axis where the declared shape varies can happen by chance: with ``k`` draws along
    the axis and ``m`` such lines, independent draws give it probability
    ``(p**k + (1-p)**k) ** m``; only below ``alpha`` is the mask called shared.
    """
    if len(shape) != kept.ndim:
        return "as_declared", f"declared shape {shape} does not match the output's rank"
    shared = [a for a, n in enumerate(shape) if n == 1 and kept.shape[a] > 1]
    varies = [a for a in shared if not _constant_along(kept, a)]
    if varies:
        return "varies_along_shared_axes", f"mask varies along axes {varies}, declared {shape}"
    draws = kept[_draw_index(kept, shape)]
    extra, chances = [], []
    for axis, k in enumerate(draws.shape):
        if k <= 1 or not _constant_along(draws, axis):
            continue
        m = draws.size // k
        log_chance = m * math.log(max(p_drop ** k + (1 - p_drop) ** k, 1e-300))
        if log_chance < math.log(alpha):
            extra.append(axis)
            chances.append(f"{math.exp(log_chance):.3g}")
    if extra:
        return "shared_along_extra_axes", (
            f"mask constant along axes {extra} where the declared shape {shape} varies "
            f"(chance under independent draws: {', '.join(chances)})")
    return "as_declared", f"mask independent along the declared shape {shape}"


def mask_checks(e: Evidence, shape: tuple[int, ...], p_drop: float,
                confidence: float = DROP_FRACTION_CONFIDENCE
                ) -> list[tuple[str, bool, tuple[float, float] | None, str]]:
    """Per-case checks ``drop_fraction`` and ``mask_sharing`` as (check, passed, err, detail)."""
    kept = np.asarray(e.outputs["y_train"]) != 0
    out: list[tuple[str, bool, tuple[float, float] | None, str]] = []
    if 0 < p_drop < 1:
        d, n = mask_counts(e, shape)
        p = do.binomial_two_sided_p(d, n, p_drop)
        err = abs(d / n - p_drop) if n else 0.0
        out.append(("drop_fraction", p >= 1 - confidence, (err, err / p_drop),
                    f"dropped {d}/{n} declared draws, expected rate {p_drop:g}, p={p:.3g}"))
        value, detail = mask_sharing(kept, shape, p_drop, 1 - confidence)
        out.append(("mask_sharing", value == "as_declared", None, f"{value}: {detail}"))
    return out


def what_happens(e: Evidence | None, failure: tuple[str, str] | None,
                 behaviour: str) -> Finding:
    if e is None:
        if failure is None:
            return Finding(behaviour, "not_measured", note="no case at this rate ran")
        status, error = failure
        value = "error" if status == "error" else "other"
        return Finding(behaviour, value, note=f"{status}: {error[:200]}")
    x = np.asarray(e.inputs["x"], dtype=np.float64)
    y = np.asarray(e.outputs["y_train"], dtype=np.float64)
    if np.isnan(y).all():
        value = "nan"
    elif not y.any():
        value = "zeros"
    elif compare(y, x, e.case.tolerance).passed:
        value = "identity"
    else:
        value = "other"
    return Finding(behaviour, value, [e.case.id])


def _semantics(masked: Sequence[Evidence],
               shapes: Mapping[str, MaskShape] | None) -> tuple[Finding, str]:
    """``rate_semantics`` and the working semantics the other fits use.

    A hypothesis passes when every asymmetric case passes the binomial test
    (Bonferroni-corrected); a value is reported only when exactly one passes.
    The working semantics is then that one, else the likelier of the two.
    """
    asym = [e for e in masked if abs(rate_of(e) - 0.5) > 0.05]
    if not asym:
        return Finding("rate_semantics", "not_measured", note="no asymmetric rate ran"), \
            "drop_probability"
    alpha = (1 - DROP_FRACTION_CONFIDENCE) / len(asym)
    logs = dict.fromkeys(do.RATE_SEMANTICS, 0.0)
    passes = dict.fromkeys(do.RATE_SEMANTICS, True)
    for e in asym:
        d, n = mask_counts(e, declared(e, shapes))
        for sem in do.RATE_SEMANTICS:
            p = do.binomial_two_sided_p(d, n, do.drop_probability(rate_of(e), sem))
            logs[sem] += math.log(max(p, 1e-300))
            passes[sem] = passes[sem] and p >= alpha
    passing = [s for s in do.RATE_SEMANTICS if passes[s]]
    likelier = max(do.RATE_SEMANTICS, key=lambda s: logs[s])
    value = passing[0] if len(passing) == 1 else INCONCLUSIVE
    note = "" if len(passing) == 1 else (
        "both hypotheses pass the binomial test" if passing else "neither hypothesis passes "
        "the binomial test") + f"; the other fits assume the likelier, {likelier}"
    residuals = {s: f"{'passes' if passes[s] else 'fails'}, sum log p {logs[s]:.3g}"
                 for s in do.RATE_SEMANTICS}
    return Finding("rate_semantics", value, [e.case.id for e in asym][:6], residuals, note), \
        passing[0] if len(passing) == 1 else likelier


def _mask_sharing(masked: Sequence[Evidence], shapes: Mapping[str, MaskShape] | None,
                  semantics: str) -> Finding:
    if not masked:
        return Finding("mask_sharing", "not_measured", note="no case with 0 < rate < 1")
    alpha = (1 - DROP_FRACTION_CONFIDENCE) / len(masked)
    by_value: dict[str, list[str]] = {}
    details = {}
    for e in masked:
        shape = declared(e, shapes)
        assert shape is not None
        kept = np.asarray(e.outputs["y_train"]) != 0
        value, details[e.case.id] = mask_sharing(
            kept, shape, do.drop_probability(rate_of(e), semantics), alpha)
        by_value.setdefault(value, []).append(e.case.id)
    for value in ("varies_along_shared_axes", "shared_along_extra_axes", "as_declared"):
        if value in by_value:
            return Finding("mask_sharing", value, by_value[value][:6], details,
                           f"declared mask shape tested over {len(masked)} cases")
    raise AssertionError("unreachable")


def infer_dropout(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
                  rates: Mapping[str, float],
                  shapes: Mapping[str, MaskShape] | None = None) -> list[Finding]:
    """``rates`` maps every dropout case id of the run to its rate (to find failed ones);
    ``shapes`` the declared mask shape of each case the row ran (None: no mask)."""
    inner = [e for e in ev if 0.0 < rate_of(e) < 1.0 and "y_train" in e.outputs]
    masked = [e for e in inner if declared(e, shapes) is not None]
    findings: list[Finding] = []
    no_mask = bool(inner) and not masked
    semantics = "drop_probability"
    if no_mask:
        note = ("the implementation declares no keep/drop mask (it does not zero elements), "
                "so nothing can be read off one")
        findings += [Finding(b, NOT_APPLICABLE, note=note) for b in MASK_BEHAVIOURS]
    else:
        finding, semantics = _semantics(masked, shapes)
        findings.append(finding)
    if not no_mask:
        findings += _fit_training(masked, semantics)
    findings.append(_fit_inference(inner, semantics))
    by_id = {e.case.id: e for e in ev}
    for behaviour, rate in (("rate_zero", 0.0), ("rate_one", 1.0)):
        ids = [cid for cid, r in rates.items() if r == rate]
        ran = next((by_id[c] for c in ids if c in by_id), None)
        fail = next((failed[c] for c in ids if c in failed and failed[c][0] != "unsupported"),
                    None)
        finding = what_happens(ran, fail, behaviour)
        if ran is None and fail is not None:
            finding.evidence = [c for c in ids if c in failed][:1]
        findings.append(finding)
    if not no_mask:
        findings.append(_drop_fraction(masked, shapes, semantics))
        findings.append(_mask_sharing(masked, shapes, semantics))
    return findings


def _fit_training(group: Sequence[Evidence], semantics: str) -> list[Finding]:
    """``training_scale`` and (on float64 inputs) ``scale_precision``, given the masks."""
    ran = [e for e in group if "y_train" in e.outputs]
    if not ran:
        return [Finding(b, "not_measured", note="no case with 0 < rate < 1")
                for b in ("training_scale", "scale_precision")]

    def evaluate(c: Candidate) -> dict[str, float]:
        out = {}
        for e in ran:
            kept = np.asarray(e.outputs["y_train"]) != 0
            exp = do.training_output(e.inputs["x"], kept, rate_of(e), c["training_scale"],
                                     semantics, c["scale_precision"])
            out[e.case.id] = ratio(e.outputs["y_train"], exp, tolerance(e, "y_train"))
        return out

    scored = fit(grid({"training_scale": do.TRAINING_SCALES,
                       "scale_precision": do.SCALE_PRECISIONS}), evaluate)
    precision = marginal(scored, "scale_precision", "scale_precision")
    if not any(e.case.dtype == "float64" for e in ran):
        precision = Finding("scale_precision", "not_measured", note="no float64 case ran")
    return [marginal(scored, "training_scale", "training_scale"), precision]


def _fit_inference(group: Sequence[Evidence], semantics: str) -> Finding:
    """``inference_output``: identity or scaled, or still dropping (``dropout_applied``)."""
    ran = [e for e in group if "y_eval" in e.outputs]
    if not ran:
        return Finding("inference_output", "not_measured", note="no case with 0 < rate < 1")

    def evaluate(c: Candidate) -> dict[str, float]:
        out = {}
        for e in ran:
            kept = np.asarray(e.outputs["y_eval"]) != 0
            exp = do.inference_output(e.inputs["x"], rate_of(e), c["inference_output"],
                                      semantics, kept)
            out[e.case.id] = ratio(e.outputs["y_eval"], exp, tolerance(e, "y_eval"))
        return out

    return marginal(fit(grid({"inference_output": (*do.INFERENCE_OUTPUTS, "dropout_applied")}),
                        evaluate), "inference_output", "inference_output")


def _drop_fraction(masked: Sequence[Evidence], shapes: Mapping[str, MaskShape] | None,
                   semantics: str) -> Finding:
    """Every masked case must pass the binomial test on its declared draws (Bonferroni)."""
    if not masked:
        return Finding("drop_fraction", "not_measured")
    alpha = (1 - DROP_FRACTION_CONFIDENCE) / len(masked)
    bad, pvals = [], {}
    for e in masked:
        d, n = mask_counts(e, declared(e, shapes))
        p = do.binomial_two_sided_p(d, n, do.drop_probability(rate_of(e), semantics))
        pvals[e.case.id] = f"dropped {d}/{n} declared draws at rate {rate_of(e):g}: p={p:.3g}"
        if p < alpha:
            bad.append(e.case.id)
    return Finding("drop_fraction", "inconsistent" if bad else "consistent",
                   (bad or list(pvals))[:6], pvals,
                   f"two-sided binomial test at {DROP_FRACTION_CONFIDENCE:.1%} confidence over "
                   f"{len(masked)} cases (Bonferroni)")
