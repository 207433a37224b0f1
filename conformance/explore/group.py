"""Root causes: findings that share what made them fail are one report, not many.

One root cause is one framework, one kind of finding and one family of check: an error
is its normalized message (as the main report groups framework errors), a disagreement
of two forms is the pair and whether status or value differs, a departure from the own
conventions is the output family; the dtype's precision class (half, float32, float64)
splits value findings, since each class takes its own kernels. The implementations and
configurations a cause covers are listed inside it, with the values its smallest case
still needs after shrinking (``features``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from conformance.cases.model import Case
from conformance.explore.findings import Finding

_VALUES = ("dtype", "poison", "special", "offset", "spread", "momentum", "epsilon", "rate",
           "noise_shape", "channel_axis")
_PLAIN = {"dtype": "float32", "poison": "none", "special": "none", "offset": 0.0,
          "spread": 1.0, "momentum": "default", "epsilon": "default", "rate": 0.5,
          "noise_shape": None, "channel_axis": "first"}
_VALUE_CHECKS = ("y_train", "y_eval", "running_mean", "running_var")


def features(case: Case) -> tuple[str, ...]:
    """The case's values that differ from the plainest ones, as ``key=value``; a batch of
    one and a single channel too, since shrinking keeps them only when they matter."""
    out = [f"{k}={case.get(k)}" for k in _VALUES
           if k in case.param_dict() and case.get(k) != _PLAIN[k]]
    if case.op == "batchnorm" and case.shape[0] == 1:
        out.append("batch=1")
    return tuple(out)


def check_family(f: Finding) -> str:
    if f.kind == "status":
        return f.check
    if f.check in _VALUE_CHECKS:
        return "value"
    return f.check


@dataclass
class RootCause:
    signature: str
    kind: str
    framework: str
    check: str
    features: tuple[str, ...]
    other: str
    findings: list[Finding] = field(default_factory=list)
    case: Case | None = None  # the smallest configuration that shows it

    @property
    def slug(self) -> str:
        digest = hashlib.sha256(self.signature.encode()).hexdigest()[:8]
        return f"{self.framework}-{self.kind}-{digest}"

    @property
    def implementations(self) -> list[str]:
        return sorted({f.implementation for f in self.findings})

    def summary(self) -> str:
        impls = ", ".join(sorted({f.base for f in self.findings}))
        if self.kind == "oracle":
            what = f"{self.check} departs from its own measured conventions"
        elif self.kind == "pair":
            what = f"{self.check}: disagrees with {self.other.partition(':')[2]}"
        else:
            what = self.check
        on = ", ".join(self.features) or "plain inputs"
        return f"{self.framework} {impls}: {what} ({on})"


def precision(case: Case) -> str:
    return "half" if case.dtype in ("float16", "bfloat16") else case.dtype


def regime(case: Case) -> tuple[str, ...]:
    """Input regimes that are causes of their own: non-finite inputs (a poisoned element,
    or float16 values beyond its range), where IEEE arithmetic leaves NaN-or-inf to the
    order of operations, and one value per channel, where the batch variance is 0 and its
    unbiased correction divides by zero, and epsilon 0, where a channel of zero variance
    (constant, or values the dtype cannot resolve) normalises as 0/0."""
    out = []
    big = max(abs(float(case.get("offset", 0.0) or 0.0)),  # type: ignore[arg-type]
              abs(float(case.get("spread", 1.0) or 1.0)))  # type: ignore[arg-type]
    if case.get("poison", "none") != "none" or (case.dtype == "float16" and big > 6e4):
        out.append("nonfinite_input")
    if case.op == "batchnorm" and math.prod(case.shape) == case.channels:
        out.append("one_value_per_channel")
    if case.op == "batchnorm" and case.get("epsilon") == 0.0:
        out.append("epsilon_zero")
    return tuple(out)


def signature(f: Finding, case: Case) -> str:
    status = f.kind == "status" or f.check.startswith("status")
    split: tuple[str, ...] = () if status else (precision(case), *regime(case))
    return "|".join((f.kind, f.framework, f.op, check_family(f), f.other, *split))


def group(findings: Iterable[Finding], cases: Mapping[str, Case]) -> list[RootCause]:
    """One root cause per signature, each with its smallest case; largest groups first."""
    out: dict[str, RootCause] = {}
    for f in findings:
        case = cases[f.case_id]
        sig = signature(f, case)
        rc = out.get(sig)
        if rc is None:
            rc = out[sig] = RootCause(sig, f.kind, f.framework, check_family(f), (), f.other)
        rc.findings.append(f)
        if rc.case is None or _size(case) < _size(rc.case):
            rc.case, rc.features = case, features(case)
    return sorted(out.values(), key=lambda r: (-len(r.findings), r.signature))


def _size(case: Case) -> tuple[int, str]:
    n = 1
    for d in case.shape:
        n *= d
    return (n * case.steps, case.id)
