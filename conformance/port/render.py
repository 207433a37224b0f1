"""A port as text: what to pass, what maps to what, the two verdicts, what is lost."""

from __future__ import annotations

from typing import Any

from conformance.port.core import Port


def _call(name: str, args: dict[str, Any]) -> str:
    inner = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{name.split('[', 1)[0]}({inner})"


def render(p: Port) -> str:
    lines = [f"{p.source.label} -> {p.target.label}"]
    if p.arguments:
        lines.append(f"  source as run:   {_call(p.source.implementation, p.source_arguments)}")
        lines.append(f"  target:          {_call(p.target.implementation, p.arguments)}")
        lines.append(f"    (as run on {p.case}: momentum translated through both measured "
                     "conventions, epsilon always explicit)")
    if p.variables:
        lines.append("  variables (role: source -> target, shape):")
        for v in p.variables:
            lines.append(f"    {v['role']:<13} {v['source'] or '-'} -> {v['target'] or '-'}"
                         f"  {v['shape'] if v['shape'] is not None else v['target_shape']}")
    lines.append(f"  inference port:  {p.inference.text}")
    lines.append(f"  training port:   {p.training.text}")
    if p.notes:
        lines.append("  cannot carry over:")
        lines += [f"    - {n}" for n in p.notes]
    return "\n".join(lines)
