"""Behaviour inference for dropout rows, conditional on the observed masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from conformance.compare.errors import compare
from conformance.compare.fit import Finding
from conformance.compare.infer_batchnorm import Evidence
from conformance.oracle import dropout as do
from conformance.spec import DROP_FRACTION_CONFIDENCE


def rate_of(e: Evidence) -> float:
    return float(e.case.get("rate"))  # type: ignore[arg-type]


def mask_counts(e: Evidence) -> tuple[int, int]:
    """(dropped, trials) counting each independent mask cell once."""
    kept = np.asarray(e.outputs["y_train"]) != 0
    noise = e.case.get("noise_shape")
    if isinstance(noise, tuple):
        index = tuple(slice(0, 1) if n == 1 else slice(None) for n in noise)
        kept = kept[index]
    else:
        # Layers such as SpatialDropout share one draw along some axes: count draws, not
        # elements, by collapsing every axis along which the mask is constant.
        for axis in range(kept.ndim):
            first = np.take(kept, [0], axis=axis)
            if kept.shape[axis] > 1 and np.array_equal(np.broadcast_to(first, kept.shape), kept):
                kept = first
    return int((~kept).sum()), int(kept.size)


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


def infer_dropout(ev: Sequence[Evidence], failed: Mapping[str, tuple[str, str]],
                  rates: Mapping[str, float]) -> list[Finding]:
    """``rates`` maps every dropout case id of the run to its rate (to find failed ones)."""
    inner = [e for e in ev if 0.0 < rate_of(e) < 1.0 and "y_train" in e.outputs]
    findings: list[Finding] = []
    # rate semantics: compare the dropped fraction to rate and to 1 - rate.
    asym = [e for e in inner if abs(rate_of(e) - 0.5) > 0.05]
    p_drop = p_keep = 0.0
    for e in asym:
        d, n = mask_counts(e)
        p_drop += np.log(max(do.binomial_two_sided_p(d, n, rate_of(e)), 1e-300))
        p_keep += np.log(max(do.binomial_two_sided_p(d, n, 1 - rate_of(e)), 1e-300))
    semantics = "drop_probability"
    if asym:
        semantics = "drop_probability" if p_drop >= p_keep else "keep_probability"
        findings.append(Finding("rate_semantics", semantics, [e.case.id for e in asym][:6],
                                {"drop_probability": f"sum log p {p_drop:.3g}",
                                 "keep_probability": f"sum log p {p_keep:.3g}"}))
    else:
        findings.append(Finding("rate_semantics", "not_measured", note="no asymmetric rate ran"))
    # training scale, given the observed mask.
    for behaviour, key, conventions in (
        ("training_scale", "y_train", do.TRAINING_SCALES),
        ("inference_output", "y_eval", do.INFERENCE_OUTPUTS),
    ):
        fits: dict[str, list[str]] = {c: [] for c in conventions}
        worst: dict[str, float] = dict.fromkeys(conventions, 0.0)
        for e in inner:
            if key not in e.outputs:
                continue
            x = e.inputs["x"]
            for conv in conventions:
                if key == "y_train":
                    kept = np.asarray(e.outputs["y_train"]) != 0
                    exp = do.training_output(x, kept, rate_of(e), conv, semantics)
                else:
                    exp = do.inference_output(x, rate_of(e), conv, semantics)
                r = compare(e.outputs[key], exp, e.case.tolerance).ratio
                worst[conv] = max(worst[conv], r)
                if r <= 1:
                    fits[conv].append(e.case.id)
        n = len([e for e in inner if key in e.outputs])
        if n == 0:
            findings.append(Finding(behaviour, "not_measured", note="no case with 0 < rate < 1"))
            continue
        best = max(conventions, key=lambda c: (len(fits[c]), -worst[c]))
        value = best if fits[best] else "inconclusive"
        still_dropping = [e.case.id for e in inner
                          if key == "y_eval" and key in e.outputs and not np.all(e.outputs[key])]
        if still_dropping and not fits[best]:
            value, fits[best] = "dropout_applied", still_dropping
        findings.append(Finding(behaviour, value, fits[best][:6],
                                {c: f"{len(fits[c])}/{n} cases fit, max error/tol {worst[c]:.3g}"
                                 for c in conventions}))
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
    # drop fraction: every inner case must pass the binomial test (Bonferroni-corrected).
    alpha = (1 - DROP_FRACTION_CONFIDENCE) / max(1, len(inner))
    bad, pvals = [], {}
    for e in inner:
        d, n = mask_counts(e)
        p = do.binomial_two_sided_p(d, n, do.drop_probability(rate_of(e), semantics))
        pvals[e.case.id] = f"dropped {d}/{n} at rate {rate_of(e):g}: p={p:.3g}"
        if p < alpha:
            bad.append(e.case.id)
    if inner:
        value = "inconsistent" if bad else "consistent"
        findings.append(Finding("drop_fraction", value, (bad or list(pvals))[:6], pvals,
                                f"two-sided binomial test at {DROP_FRACTION_CONFIDENCE:.1%} "
                                f"confidence over {len(inner)} cases (Bonferroni)"))
    else:
        findings.append(Finding("drop_fraction", "not_measured"))
    return findings
