"""Documented values: signature defaults and curated, source-cited claims.

Claims live in ``conformance/claims/<framework>.toml``, one ``[[claim]]`` table
each::

    [[claim]]
    implementation = "torch.nn.BatchNorm2d"   # base name, or a list as implementations = [..]
    behaviour = "normalize_variance"
    value = "biased"
    source = "https://docs.pytorch.org/docs/2.13/generated/torch.nn.BatchNorm2d.html"
    docstring = "torch.nn.BatchNorm2d"        # object whose __doc__ must hold the quote
    quote = "calculated via the biased estimator"

The worker resolves ``docstring`` inside the installed framework and records
whether the quote is still there, so a documentation change shows up as an
unverified claim instead of silently going stale. A claim with no
``docstring`` cites a web page only and is marked unverified-by-design (None).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomllib

from conformance.adapters.base import DocClaim
from conformance.spec import BEHAVIOUR_BY_NAME

CLAIMS_DIR = Path(__file__).resolve().parent.parent / "claims"


def _normalize(text: str) -> str:
    text = re.sub(r"[`*]", "", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def resolve(dotted: str) -> Any:
    """Import ``a.b.C.meth`` by trying successively shorter module prefixes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot resolve {dotted!r}")


def quote_in_doc(quote: str, dotted: str,
                 resolver: Callable[[str], Any] = resolve) -> bool:
    try:
        doc = inspect.getdoc(resolver(dotted)) or ""
    except (ImportError, AttributeError):
        return False
    return _normalize(quote) in _normalize(doc)


def load_claims(framework: str, claims_dir: Path = CLAIMS_DIR) -> list[dict[str, Any]]:
    """Raw claim tables; raises ``ValueError`` naming the file on malformed content."""
    path = claims_dir / f"{framework}.toml"
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    claims: list[dict[str, Any]] = []
    for i, claim in enumerate(data.get("claim", []), start=1):
        names = claim.get("implementations", [claim.get("implementation")])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{path}: claim {i}: implementation(s) must be text")
        claims += [{**claim, "implementation": n} for n in names]
    for i, claim in enumerate(claims, start=1):
        missing = {"implementation", "behaviour", "value", "source"} - set(claim)
        if missing:
            raise ValueError(f"{path}: claim {i} lacks {', '.join(sorted(missing))}")
        if claim["behaviour"] not in BEHAVIOUR_BY_NAME:
            raise ValueError(f"{path}: claim {i} names unknown behaviour "
                             f"{claim['behaviour']!r}")
        if "docstring" in claim and "quote" not in claim:
            raise ValueError(f"{path}: claim {i} names a docstring but quotes nothing")
    return claims


def verified_claims(framework: str, resolver: Callable[[str], Any] = resolve,
                    claims_dir: Path = CLAIMS_DIR) -> list[DocClaim]:
    """Claims of ``framework`` with their quotes checked against the installed docstrings."""
    out = []
    for c in load_claims(framework, claims_dir):
        verified: bool | None = None
        if "docstring" in c:
            verified = quote_in_doc(c["quote"], c["docstring"], resolver)
        out.append(DocClaim(c["implementation"], c["behaviour"], str(c["value"]),
                            c["source"], c.get("quote", ""), verified))
    return out


def signature_default(implementation: str, obj: Any, parameter: str,
                      behaviour: str) -> DocClaim | None:
    """A documented default read from ``obj``'s signature, or None if it has no such one."""
    try:
        param = inspect.signature(obj).parameters[parameter]
    except (KeyError, TypeError, ValueError):
        return None
    if param.default is inspect.Parameter.empty:
        return None
    value = param.default
    text = format_number(value) if isinstance(value, float) else str(value)
    return DocClaim(implementation, behaviour, text,
                    f"signature: {getattr(obj, '__qualname__', obj)}({parameter}=...)",
                    f"{parameter}={value!r}", True)


def hyperparameter_defaults(implementation: str, obj: Any, momentum: str = "momentum",
                            epsilon: str = "epsilon") -> list[DocClaim]:
    """The momentum and epsilon defaults ``obj``'s signature documents (parameters named as
    the framework names them), those it has."""
    claims = [signature_default(implementation, obj, momentum, "momentum_default"),
              signature_default(implementation, obj, epsilon, "epsilon_default")]
    return [c for c in claims if c is not None]


def format_number(value: float) -> str:
    """Short, stable text for a numeric behaviour value (``1e-05``, ``0.1``, ``0.99``)."""
    return f"{float(value):.4g}"
