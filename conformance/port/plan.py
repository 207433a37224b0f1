"""What a port must change, from the conventions the suite MEASURED for both rows.

Nothing here is read from documentation unless the measurement is silent (then the
note says so): momentum is translated through the two measured momentum conventions,
epsilon is always passed explicitly (the source's effective value, floor included),
and every behaviour no constructor argument converts is written down as what cannot
carry over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conformance.cases.model import Case
from conformance.cases.store import load_manifest
from conformance.compare.analyze import RowReport, analyze
from conformance.compare.load import load_runs
from conformance.spec import UNDECIDED


def base_name(implementation: str) -> str:
    return implementation.split("[", 1)[0]


@dataclass(frozen=True)
class Measured:
    """The measured behaviours of one implementation (all its rows of one framework),
    with the documented values kept apart for where the measurement is silent."""

    framework: str
    implementation: str
    rows: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # row -> values
    documented: Mapping[str, str] = field(default_factory=dict)

    def value(self, behaviour: str, row: str = "") -> str:
        """The row's measured value, else the value every measured row agrees on."""
        own = self.rows.get(row, {}).get(behaviour)
        if own and own not in UNDECIDED:
            return own
        seen = {v.get(behaviour) or "" for v in self.rows.values()} - {"", *UNDECIDED}
        return seen.pop() if len(seen) == 1 else ""

    def number(self, behaviour: str) -> tuple[float | None, str]:
        """A measured default, else the documented one (with a note), else nothing."""
        for text, how in ((self.value(behaviour), "measured"),
                          (self.documented.get(behaviour, ""), "documented")):
            try:
                return float(text), how
            except ValueError:
                continue
        return None, "unknown"


def measure(runs_dir: Path, cases_dir: Path,
            wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Measured]:
    """Analyze only the batch-norm rows of ``wanted`` (framework, implementation): the
    suite's own inference (``conformance.compare.analyze``) on their recorded results."""
    want = set(wanted)
    cases: dict[str, Case] = {c.id: c for c in load_manifest(cases_dir)}
    runs = []
    for run in load_runs(runs_dir):
        keep = [r for r in run.results if r.get("op") == "batchnorm"
                and (run.framework, base_name(r["implementation"])) in want]
        if keep:
            run.results = keep
            runs.append(run)
    rows: dict[tuple[str, str], list[RowReport]] = {}
    for row in analyze(runs, cases, cases_dir).rows:
        rows.setdefault((row.framework, base_name(row.implementation)), []).append(row)
    out = {}
    for key, group in rows.items():
        values = {r.implementation: {f.behaviour: f.actual for f in r.findings}
                  for r in group}
        doc = {b: str(d.get("value")) for r in group for b, d in r.documented.items()}
        out[key] = Measured(key[0], key[1], values, doc)
    return out


@dataclass(frozen=True)
class Translation:
    """Target hyperparameters for one source setting, and why."""

    momentum: float | None  # in the target's convention; None: cannot be carried over
    epsilon: float
    gamma_one: bool  # the source ignores gamma: load ones into the target
    notes: tuple[str, ...] = ()


def _epsilon_floor(m: Measured, row: str = "") -> float | None:
    eff = m.value("epsilon_effective", row)
    return float(eff.split(":", 1)[1]) if eff.startswith("clamped_to:") else None


def translate(source: Measured, target: Measured, momentum: float | str,
              epsilon: float | str) -> Translation:
    """``momentum``/``epsilon``: the source's own arguments (``"default"``, ``"none"``)."""
    notes: list[str] = []
    if momentum == "default":
        m, how = source.number("momentum_default")
        if how == "documented":
            notes.append(f"source momentum default {m:g} is documented, not measured")
    else:
        m = None if momentum == "none" else float(momentum)
    cs = "cumulative_average" if momentum == "none" else source.value("momentum_convention")
    ct = target.value("momentum_convention")
    m_t: float | None = None
    if not cs or not ct:
        side = "source" if not cs else "target"
        notes.append(f"{side} momentum convention not measured: momentum cannot be "
                     "translated")
    elif "cumulative_average" in (cs, ct):
        notes.append(f"momentum: source {cs}, target {ct}: no momentum reproduces a "
                     "cumulative average")
    elif m is None:
        notes.append("source momentum unknown (neither measured nor documented)")
    else:
        m_t = m if cs == ct else float(f"{1.0 - m:.12g}")  # 1 - 0.9 printed as 0.1
    if epsilon == "default":
        e, how = source.number("epsilon_default")
        if e is None:
            raise ValueError(f"{source.implementation}: its default epsilon is neither "
                             "measured nor documented; pass the case's epsilon explicitly")
        if how == "documented":
            notes.append(f"source epsilon default {e:g} is documented, not measured")
    else:
        e = float(epsilon)
    floor_s, floor_t = _epsilon_floor(source), _epsilon_floor(target)
    if floor_s is not None and e < floor_s:
        e = floor_s
        notes.append(f"source raises epsilon to {floor_s:g}: that is what is carried")
    if floor_t is not None and e < floor_t:
        notes.append(f"target raises epsilon below {floor_t:g} to {floor_t:g}: epsilon "
                     f"{e:g} cannot be reproduced")
    gs, gt = source.value("gamma_applied"), target.value("gamma_applied")
    if gs == "yes" and gt == "no":
        notes.append("target ignores gamma (e.g. MXNet fix_gamma=True): enable it")
    pl_s, pl_t = source.value("epsilon_placement"), target.value("epsilon_placement")
    if pl_s and pl_t and pl_s != pl_t:
        notes.append(f"epsilon placement differs ({pl_s} vs {pl_t}): no argument converts "
                     "it")
    return Translation(m_t, e, gs == "no", tuple(notes))


def training_notes(source: Measured, target: Measured, source_row: str,
                   target_row: str) -> list[str]:
    """What continued training in the target cannot carry over, for the rows that ran."""
    notes = []
    vs = source.value("running_variance_update", source_row)
    vt = target.value("running_variance_update", target_row)
    if vs and vt and vs != vt:
        notes.append(f"running variance: {source_row or source.implementation} folds the "
                     f"{vs} batch variance in, {target_row or target.implementation} the "
                     f"{vt} one; no argument converts it, so continued training drifts by "
                     "a factor n/(n-1) on each update")
    a, c = (m.value("stats_update_trigger", r) for m, r in ((source, source_row),
                                                             (target, target_row)))
    if a and c and a != c:
        notes.append(f"statistics update on {a} in the source, on {c} in the target: a "
                     "forward pass without backward (no loss) updates only the one that "
                     "updates on forward")
    a = source.value("variance_computation", source_row)
    c = "two_pass" if target.framework == "numpy" else target.value("variance_computation",
                                                                     target_row)
    if a and c and a != c:
        notes.append(f"batch variance: {a} in the source, {c} in the target; they part on "
                     "inputs whose mean is large against their spread (E[x^2] - E[x]^2 "
                     "cancels)")
    a, c = (m.value("normalize_variance", r) for m, r in ((source, source_row),
                                                           (target, target_row)))
    if a and c and a != c:
        notes.append(f"training-mode output: source divides by the {a} batch variance, "
                     f"target by the {c} one")
    return notes
