"""``conformance.port``: carry a trained batch-norm layer from one framework to another,
and say, from running both, whether its predictions survive.

The pipeline: resolve the two implementations, read their measured conventions from the
runs (``plan.measure``), pick the suite's cases both can run (``scenarios``), export the
trained source in its environment, import into the target in its environment
(``passes.run_pass``; one pass per environment for all pairs), then grade the target's
own outputs against the source's (``grade``), case by case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases.model import Case, Tolerance
from conformance.cases.store import load_manifest
from conformance.cases.tolerances import tolerance_for
from conformance.environments import ADAPTERS
from conformance.port import passes
from conformance.port.grade import Grade, grade, worst
from conformance.port.plan import Measured, measure, training_notes, translate

# Module prefixes of public API names -> the framework whose adapter has them.
_PREFIXES = {"conformance.oracle.": "numpy", "torch.": "torch", "keras.": "keras",
             "tf_keras.": "tf_keras", "mxnet.": "mxnet", "flax.": "flax", "paddle.": "paddle"}
TRAINING_OUTPUTS = ("y_train", "running_mean", "running_var", "y_eval")
# The oracle as a target: a hand-written NumPy predictor under the source's measured
# conventions (its convention card), ``numpy`` for short on the command line.
ORACLE = "conformance.oracle.batchnorm.sequence"


@dataclass(frozen=True)
class Side:
    framework: str
    implementation: str

    @property
    def label(self) -> str:
        return self.implementation if _guess(self.implementation) == self.framework \
            else f"{self.framework}:{self.implementation}"


def _guess(name: str) -> str | None:
    return next((fw for p, fw in _PREFIXES.items() if name.startswith(p)), None)


def side(text: str) -> Side:
    """``torch.nn.BatchNorm2d``, or ``keras_jax:keras.layers.BatchNormalization`` for a
    framework the name does not imply."""
    if text == "numpy":
        return Side("numpy", ORACLE)
    framework, _, name = text.rpartition(":") if ":" in text else ("", "", text)
    framework = framework or _guess(name) or ""
    if framework not in ADAPTERS or not name:
        raise ValueError(f"{text!r}: not an implementation name (e.g. torch.nn.BatchNorm2d, "
                         "keras.layers.BatchNormalization, keras_jax:keras.layers."
                         "BatchNormalization)")
    return Side(framework, name)


def scenarios(cases: Sequence[Case]) -> list[Case]:
    """The suite's batch-norm cases a port is judged on: float32 (what models ship in),
    channels first (every framework takes it), plain inputs, more than one value per
    channel, a momentum every framework has, and a tolerance that can decide."""
    out = []
    for c in cases:
        if c.op != "batchnorm" or c.dtype != "float32" or c.channel_axis != 1:
            continue
        if c.get("special") != "none" or c.get("momentum") == "none" or c.informational:
            continue
        if int(np.prod(c.shape)) // c.channels > 1 and c.get("flags") is None:
            out.append(c)
    return out


@dataclass
class Verdict:
    """A graded verdict, or the outcome that kept it from being graded."""

    grade: Grade | None = None
    outcome: str = ""
    cases: int = 0

    @property
    def text(self) -> str:
        if self.grade is None:
            return f"not run: {self.outcome}" if self.outcome else "not run"
        return f"{self.grade.describe()} [{self.cases} case(s)]"

    @property
    def short(self) -> str:
        return self.grade.grade if self.grade is not None else "not run"

    def to_json(self) -> dict[str, Any]:
        return {"grade": None if self.grade is None else self.grade.to_json(),
                "outcome": self.outcome, "cases": self.cases, "text": self.text}


@dataclass
class Port:
    source: Side
    target: Side
    source_arguments: dict[str, Any] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)
    variables: list[dict[str, Any]] = field(default_factory=list)
    inference: Verdict = field(default_factory=Verdict)
    training: Verdict = field(default_factory=Verdict)
    notes: list[str] = field(default_factory=list)
    rows: tuple[str, str] = ("", "")
    case: str = ""  # the case whose arguments are shown

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.label, "target": self.target.label,
                "source_framework": self.source.framework,
                "target_framework": self.target.framework,
                "source_arguments": self.source_arguments, "arguments": self.arguments,
                "variables": self.variables, "inference": self.inference.to_json(),
                "training": self.training.to_json(), "cannot_carry_over": self.notes,
                "rows": list(self.rows), "arguments_case": self.case}


def _key(s: Side) -> str:
    return f"{s.framework}:{s.implementation}"


def _pair_key(a: Side, b: Side) -> str:
    return f"{_key(a)}__{_key(b)}".replace(":", "+").replace("/", "_")


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _mapping(src: Sequence[Mapping[str, Any]], dst: Sequence[Mapping[str, Any]]
             ) -> list[dict[str, Any]]:
    """Source and target variables joined by role, as both layers named them."""
    by_role = {v["role"]: v for v in dst}
    out = [{"role": v["role"], "source": v["name"], "target": by_role.get(v["role"], {})
            .get("name"), "shape": v["shape"], "target_shape": by_role.get(v["role"], {})
            .get("shape")} for v in src]
    seen = {v["role"] for v in src}
    out += [{"role": v["role"], "source": None, "target": v["name"], "shape": None,
             "target_shape": v["shape"]} for v in dst if v["role"] not in seen]
    return out


def port_many(pairs: Sequence[tuple[Side, Side]], runs: Path, cases_dir: Path, work: Path,
              pythons: Mapping[str, str], limit: int = 0) -> list[Port]:
    """Every pair, verified by running: one export pass per source environment and one
    import pass per target environment, whatever the number of pairs."""
    # NumPy as a target stands for the source's card; as a source (tests) it is its row.
    sides = {s for s, _ in pairs} | {t for _, t in pairs if t.framework != "numpy"}
    measured = measure(runs, cases_dir, {(s.framework, s.implementation) for s in sides})
    chosen = scenarios(load_manifest(cases_dir))[:limit] if limit else \
        scenarios(load_manifest(cases_dir))
    by_id = {c.id: c for c in chosen}
    sources = sorted({p[0] for p in pairs}, key=_key)
    exports = passes.run_pass("export", [
        {"key": _key(s), "framework": s.framework, "implementation": s.implementation,
         "case": c.id, "momentum": c.get("momentum"), "epsilon": c.get("epsilon")}
        for s in sources for c in chosen], cases_dir, work, pythons)
    exported = {(a["key"], a["case"]): a for a in exports}
    ports: dict[str, Port] = {}
    conventions: dict[str, tuple[Measured, Measured]] = {}
    items = []
    for s, t in pairs:
        port = ports[_pair_key(s, t)] = Port(s, t)
        ms, mt = measured.get((s.framework, s.implementation)), \
            measured.get((t.framework, t.implementation))
        if t.framework == "numpy" and ms is not None:
            mt = Measured("numpy", t.implementation, ms.rows, ms.documented)
        if ms is not None and mt is not None:
            conventions[_pair_key(s, t)] = (ms, mt)
        if ms is None or mt is None:
            missing = s if ms is None else t
            port.inference.outcome = port.training.outcome = (
                f"no measured conventions for {missing.label} in {runs} (run "
                "`conformance run` for its framework first)")
            continue
        for c in chosen:
            ex = exported.get((_key(s), c.id))
            if ex is None or ex["status"] != "ok":
                continue
            tr = translate(ms, mt, c.get("momentum"), c.get("epsilon"))  # type: ignore[arg-type]
            items.append({"key": _pair_key(s, t), "framework": t.framework,
                          "implementation": t.implementation, "case": c.id,
                          "momentum": tr.momentum, "epsilon": tr.epsilon,
                          "gamma_one": tr.gamma_one, "source": ex["outputs"],
                          "notes": list(tr.notes), "extra": _extra(t, ms, ex["row"])})
    imports = passes.run_pass("import", items, cases_dir, work, pythons)
    notes_of = {(i["key"], i["case"]): i["notes"] for i in items}
    for (s, t) in pairs:
        port = ports[_pair_key(s, t)]
        if port.inference.outcome:
            continue
        mine = [a for a in imports if a["key"] == _pair_key(s, t)]
        _judge(port, [exported[(_key(s), a["case"])] for a in mine], mine,
               lambda cid, k: tolerance_for(by_id[cid], k),
               *conventions[_pair_key(s, t)], notes_of, exports)
    return [ports[_pair_key(s, t)] for s, t in pairs]


def _extra(target: Side, source: Measured, row: str) -> dict[str, Any]:
    """Arguments beyond momentum and epsilon: the NumPy target takes the source row's
    measured conventions (undecided ones at the oracle's reference values)."""
    if target.framework != "numpy":
        return {}
    from dataclasses import asdict

    from conformance.compare.checks import setting

    values = source.rows.get(row) or next(iter(source.rows.values()), {})
    return {"conventions": asdict(setting(values).conv)}


def _judge(port: Port, exports: list[dict[str, Any]], imports: list[dict[str, Any]],
           tol: Callable[[str, str], Tolerance], ms: Measured, mt: Measured,
           notes_of: Mapping[tuple[str, str], list[str]],
           all_exports: list[dict[str, Any]]) -> None:
    inference: list[Grade] = []
    training: list[Grade] = []
    notes: list[str] = []
    errors = [a["error"] for a in imports if a["status"] != "ok"]
    for ex, im in zip(exports, imports, strict=True):
        if im["status"] != "ok":
            continue
        case = im["case"]
        src, dst = _load(ex["outputs"]), _load(im["outputs"])
        port.source_arguments = port.source_arguments or ex["arguments"]
        if not port.arguments:
            port.arguments, port.case = im["arguments"], case
        port.variables = port.variables or _mapping(ex["variables"], im["variables"])
        port.rows = (ex["row"], im["row"])
        inference.append(grade(dst["y_eval"], src["y_eval"], tol(case, "y_eval"), case,
                               "y_eval"))
        if "cont/y_eval" in dst:
            for k in TRAINING_OUTPUTS:
                training.append(grade(dst[f"cont/{k}"], src[f"cont/{k}"], tol(case, k), case,
                                      k))
        for n in notes_of.get((im["key"], im["case"]), []) + training_notes(
                ms, mt, ex["row"], im["row"]):
            if n not in notes:
                notes.append(n)
        for role in im.get("unmapped", []):
            n = f"{role}: the target has no such variable; it is dropped"
            if n not in notes:
                notes.append(n)
    for v in port.variables:
        if v["source"] is None:
            notes.append(f"{v['role']} ({v['target']}): the source has none; the target "
                         "keeps its initial value")
    port.notes = notes
    src_errors = [a["error"] for a in all_exports
                  if a["key"] == _key(port.source) and a["status"] != "ok"]
    why = (errors or src_errors or ["no case both could run"])[0]
    port.inference = Verdict(worst(inference), "" if inference else why, len(inference))
    n_train = len({g.case for g in training})
    no_training = next((n for n in notes if "momentum" in n), why)
    port.training = Verdict(worst(training), "" if training else no_training, n_train)


def port(source: str, target: str, runs: Path = Path("reports/runs"),
         cases: Path = Path("cases/generated"), work: Path = Path("reports/ports/work"),
         pythons: Mapping[str, str] | None = None) -> Port:
    """The Python API: one pair, e.g. ``port("torch.nn.BatchNorm2d",
    "keras.layers.BatchNormalization")``."""
    from conformance.environments import ENVIRONMENTS

    envs = pythons if pythons is not None else {
        e.name: p for e in ENVIRONMENTS if (p := passes.default_python(e.name))}
    return port_many([(side(source), side(target))], runs, cases, work, envs)[0]
