"""Version ranges of expectations files: ``"==2.13.0"``, ``">=2.13,<2.14"``, ``"==1.9.*"``.

A small reader of the comparison clauses we use, rather than a dependency on
``packaging``: the report env installs only NumPy and pandas.
"""

from __future__ import annotations

import re

_CLAUSE = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.*+-]*)\s*$")


def _release(version: str) -> tuple[int, ...]:
    """Numeric release part: ``2.13.0+cpu`` -> (2, 13, 0); pre-release tags are ignored."""
    parts = []
    for piece in version.split("+", maxsplit=1)[0].split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _pad(a: tuple[int, ...], n: int) -> tuple[int, ...]:
    return a + (0,) * (n - len(a))


def version_matches(version: str, spec: str) -> bool:
    """Whether ``version`` satisfies ``spec`` (``">=2.13,<2.14"``, ``"==1.9.*"``)."""
    if not spec.strip():
        return True
    v = _release(version)
    for clause in spec.split(","):
        m = _CLAUSE.match(clause)
        if m is None:
            raise ValueError(f"versions {spec!r}: cannot read clause {clause.strip()!r}")
        op, text = m.groups()
        if text.endswith(".*"):
            prefix = _release(text[:-2])
            hit = v[:len(prefix)] == prefix
            if (op == "==") != hit:
                return False
            continue
        w = _release(text)
        n = max(len(v), len(w))
        a, b = _pad(v, n), _pad(w, n)
        ok = {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b,
              "<": a < b}[op]
        if not ok:
            return False
    return True
