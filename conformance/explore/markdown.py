"""One Markdown report per root cause, ready to file upstream, and an index.

A report stands alone: framework and versions, the smallest configuration, a snippet
that reproduces it with the framework alone (``report.snippets``, plus the poisoned
element where the inputs are rebuilt from the seed), what was expected and why (the
implementation's own conventions on the default matrix, or its other form), what
happened, and what every other framework does on the same configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from conformance.cases.model import Case
from conformance.explore.group import RootCause
from conformance.explore.known import Known, Verdict, case_json
from conformance.report.snippets import EMBED_LIMIT, snippet

# (framework, implementation) -> what it did on the root cause's case
Others = Mapping[tuple[str, str], str]


def repro(framework: str, implementation: str, case: Case,
          inputs: Mapping[str, np.ndarray] | None) -> str:
    text = snippet(framework, implementation, case, inputs)
    poison = str(case.get("poison", "none"))
    embedded = inputs is not None and sum(a.size for a in inputs.values()) <= EMBED_LIMIT
    if poison != "none" and not embedded:
        value = {"nan": "np.nan", "inf": "np.inf", "-inf": "-np.inf"}[poison]
        lines = text.splitlines()
        at = next((i for i, ln in enumerate(lines) if ln.startswith("beta = ")), len(lines) - 1)
        lines.insert(at + 1, f"train.flat[0] = {value}  # the poisoned element")
        text = "\n".join(lines) + "\n"
    return text


def _expected(rc: RootCause, conventions: Mapping[str, str]) -> str:
    if rc.kind == "oracle":
        conv = ", ".join(f"{k}={v}" for k, v in sorted(conventions.items())) or "(none)"
        return ("The NumPy float64 oracle under the conventions this same implementation "
                "follows on every case of the default matrix (measured there, not typed): "
                f"{conv}. Its tolerance is the case's own per-channel bound, derived as for "
                "the default cases.")
    if rc.kind == "pair":
        return (f"The same result as its equivalent form `{rc.other.split(':', 1)[1]}`, in "
                "status (raises, NaN, zeros, output) and in value within twice the case's "
                "tolerance.")
    return ("An output, or a documented, named error: other forms and frameworks accept "
            "this configuration (see the table below).")


def render(rc: RootCause, versions: Mapping[str, str], conventions: Mapping[str, str],
           inputs: Mapping[str, np.ndarray] | None, others: Others, seed: int,
           known: Known | None = None) -> str:
    case = rc.case
    assert case is not None
    first = min(rc.findings, key=lambda f: (f.case_id != case.id, f.implementation))
    impl = first.implementation
    lines = [f"# {rc.summary()}", "",
             f"- framework: **{rc.framework} {versions.get(rc.framework, '?')}**",
             f"- implementations: {', '.join(f'`{i}`' for i in rc.implementations)}",
             f"- kind: {rc.kind}; signature: `{rc.signature}`",
             f"- exploration seed: {seed}; configurations showing it: "
             f"{len({f.case_id for f in rc.findings})}",
             f"- triage: {known.triage if known else 'new (not yet triaged)'}"
             + (f"; upstream: {known.upstream}" if known and known.upstream else ""), ""]
    if known and known.reason:
        lines += [f"> {known.reason}", ""]
    lines += ["## Smallest configuration", "",
              f"`{case.id}` ({case.dtype}, shape {case.shape}): `{case_json(case)}`", "",
              "## Reproduce (the framework alone)", "", "```python",
              repro(rc.framework, impl, case, inputs).rstrip(), "```", ""]
    if rc.kind == "pair":
        fw, other = rc.other.split(":", 1)
        lines += ["The other form:", "", "```python",
                  repro(fw, other, case, inputs).rstrip(), "```", ""]
    lines += ["## Expected", "", _expected(rc, conventions), "",
              "## Actual", ""]
    details = sorted({f"`{f.implementation}`: {f.detail}" for f in rc.findings
                      if f.case_id == case.id})[:8]
    lines += [f"- {d}" for d in details] + [""]
    lines += ["## Other frameworks on this configuration", "",
              "| framework | implementation | result |", "|---|---|---|"]
    lines += [f"| {fw} | `{im}` | {what} |" for (fw, im), what in sorted(others.items())]
    return "\n".join(lines) + "\n"


def index(verdict: Verdict, files: Mapping[str, str], header: Iterable[str]) -> str:
    lines = ["# Exploration findings", "", *header, "",
             f"New root causes: {len(verdict.new)}; known and still present: "
             f"{len(verdict.still)}; known and gone: {len(verdict.gone)}.", "",
             "## New", ""]
    lines += [f"- [{rc.summary()}]({files[rc.signature]})" for rc in verdict.new] or ["none"]
    lines += ["", "## Known, still present", ""]
    lines += [f"- [{rc.summary()}]({files[rc.signature]}) ({k.triage})"
              for rc, k in verdict.still] or ["none"]
    lines += ["", "## Known, gone (fixed?)", ""]
    lines += [f"- `{k.signature}` ({k.triage})" for k in verdict.gone] or ["none"]
    return "\n".join(lines) + "\n"


def write(out: Path, name: str, text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out / name)
