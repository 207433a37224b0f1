"""The report's pictures: running-statistic trajectories and error distributions.

Trajectories use the multi-step case (family ``bn_sequence``): one line per
implementation that ran it, and one dashed line per oracle convention, so a
reader sees which convention each framework follows without reading numbers.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.oracle import batchnorm as bn
from conformance.report.charts import Series, Strip, line_chart, strip_plot
from conformance.report.data import ReportData

SEQUENCE_FAMILY = "bn_sequence"
FLOOR = -6.0
TOLERANCE_CHECKS = (
    "y_train", "y_eval", "running_mean", "running_var",
)  # log10 error/tol drawn for exact results


def trajectories(data: ReportData, channel: int = 0) -> str:
    case = next((c for c in data.cases.values() if c.family == SEQUENCE_FAMILY), None)
    ins = data.inputs(case.id) if case else None
    if case is None or ins is None:
        return "<p class='muted'>No multi-step case (family bn_sequence) in this run.</p>"
    m = float(case.get("momentum"))  # type: ignore[arg-type]
    mean_series, var_series = [], []
    for col in data.columns:
        if col.op != "batchnorm":
            continue
        outs = data.outputs(col, case.id)
        if outs is None or "running_mean" not in outs:
            continue
        label = f"{col.framework} {col.implementation}"
        rm = np.asarray(outs["running_mean"], dtype=np.float64)[:, channel]
        mean_series.append(Series(label, [0.0, *rm.tolist()]))
        if "running_var" in outs:
            rv = np.asarray(outs["running_var"], dtype=np.float64)[:, channel]
            var_series.append(Series(label, [1.0, *rv.tolist()]))
    for convention in bn.MOMENTUM_CONVENTIONS:
        for estimator in ("biased", "unbiased"):
            conv = bn.Conventions(momentum_convention=convention,
                                  running_variance_update=estimator)
            out = bn.sequence(ins["train"], ins["eval"], case.channel_axis, ins["gamma"],
                              ins["beta"], m, 1e-5, conv)
            short = convention.replace("weight_on_", "on_").replace("cumulative_average",
                                                                    "cumulative")
            if estimator == "biased":
                mean_series.append(Series(f"oracle {short}",
                                          [0.0, *out["running_mean"][:, channel].tolist()],
                                          dashed=True))
            var_series.append(Series(f"oracle {short} {estimator}",
                                     [1.0, *out["running_var"][:, channel].tolist()],
                                     dashed=True))
    note = (f"<p class='muted'>Case {case.id}: {case.note}; momentum argument {m:g}, "
            f"channel {channel}. Step 0 is the initial value.</p>")
    return (note + "<div class='figs'>"
            + line_chart(mean_series, "running mean", "training step")
            + line_chart(var_series, "running variance", "training step") + "</div>")


def _ratio(r: dict[str, object]) -> float | None:
    """log10 of max error over tolerance, or None when the check has no error figures.

    The results table keeps max abs and max rel error and the tolerance, not the
    elementwise ratio; min(abs/atol, rel/rtol) is an upper bound of that ratio
    (exact when one term dominates), so a dot left of 0 surely passed.
    """
    if isinstance(r.get("ratio"), (int, float)):
        value = float(r["ratio"])  # type: ignore[arg-type]
    else:
        try:
            tol = dict(p.split("=") for p in str(r["tolerance"]).split())
            a, rel = float(str(r["max_abs_err"])), float(str(r["max_rel_err"]))
            value = min(a / float(tol["atol"]), rel / float(tol["rtol"]))
        except (KeyError, ValueError, ZeroDivisionError):
            return None
    if value == 0:
        return FLOOR
    return math.log10(value) if math.isfinite(value) else 99.0


def error_strips(data: ReportData) -> str:
    strips = []
    for col in data.columns:
        points = []
        for r in data.column_checks(col):
            if r["check"] not in TOLERANCE_CHECKS:
                continue  # drop_fraction is a binomial test, not an error against tolerance
            v = _ratio(r)
            if v is not None:
                points.append((v, r["status"] == "PASS",
                               f"{r['case_id']} {r['check']}: {r['status']} abs "
                               f"{r['max_abs_err']} rel {r['max_rel_err']}"))
        if points:
            strips.append(Strip(f"{col.framework} {col.implementation}", points))
    return strip_plot(strips, "error per check, by implementation")
