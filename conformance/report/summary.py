"""The lines `conformance report` prints: what was checked and what is left to explain."""

from __future__ import annotations

from conformance.compare.analyze import Analysis
from conformance.compare.explain import (
    framework_errors,
    named_error_cases,
    suspected_bugs,
    unexplained,
)


def summary(analysis: Analysis, seconds: float) -> list[str]:
    disagree = [d for d in analysis.discrepancies if d["agrees"] == "no"]
    mismatches = sum(1 for r in analysis.results if r["status"] == "MISMATCH")
    bugs = suspected_bugs(analysis.results, analysis.cases)
    lines = [f"{len(analysis.results)} checks, {len(analysis.discrepancies)} behaviour rows "
             f"({len(disagree)} disagree with their documentation) in {seconds:.1f} s",
             f"{mismatches} mismatches against the oracle, "
             f"{len(unexplained(analysis.results))} unexplained"
             + (f" (suspected bugs in {len(bugs)} rows: "
                + ", ".join(f"{b.implementation} x{b.mismatches}" for b in bugs) + ")"
                if bugs else "")]
    lines += [f"  contradicts its documentation: {d['implementation']} {d['behaviour']} "
              f"documented {d['documented']}, measured {d['actual']}" for d in disagree]
    errors = framework_errors(analysis.results, analysis.cases,
                              named_error_cases(analysis.rows))
    if errors:
        lines.append(f"{len(errors)} framework errors no behaviour names:")
        lines += [f"  {x.implementation} on {len(x.cases)} cases: {x.message[:100]}"
                  for x in errors]
    return lines
