"""Inline SVG charts, drawn in Python so the page needs no script library or network.

Two kinds: a line chart (running statistics over training steps) and a strip
plot (log10 of error over tolerance per implementation). Every label is
escaped; colours come from a fixed palette so a series keeps its colour.
"""

from __future__ import annotations

import html
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")

ORACLE_GREYS = ("#000000", "#555555", "#999999", "#b8860b", "#6b8e23", "#8b008b")


@dataclass(frozen=True)
class Series:
    label: str
    ys: Sequence[float]
    dashed: bool = False  # oracle conventions are dashed, measured rows solid


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def line_chart(series: Sequence[Series], title: str, xlabel: str, width: int = 520,
               height: int = 300) -> str:
    """One polyline per series over x = 0, 1, ..., with a legend on the right."""
    finite = [y for s in series for y in s.ys if math.isfinite(y)]
    if not finite:
        return f"<p class='muted'>{_e(title)}: no data.</p>"
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    n = max(len(s.ys) for s in series)
    left, right, top, bottom = 55, 290, 28, 36
    height = max(height, top + 15 * len(series) + 10)
    pw, ph = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + pw * i / max(n - 1, 1)

    def py(y: float) -> float:
        return top + ph * (1 - (y - lo) / (hi - lo))

    out = [f"<svg class='chart' role='img' viewBox='0 0 {width} {height}' width='{width}' "
           f"height='{height}' xmlns='http://www.w3.org/2000/svg'><title>{_e(title)}</title>",
           f"<text x='{left}' y='16' class='ct'>{_e(title)}</text>",
           f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' class='frame'/>"]
    for t in _ticks(lo, hi):
        out.append(f"<line x1='{left}' x2='{left + pw}' y1='{py(t):.1f}' y2='{py(t):.1f}' "
                   f"class='grid'/><text x='{left - 4}' y='{py(t) + 4:.1f}' class='tick' "
                   f"text-anchor='end'>{t:.3g}</text>")
    for i in range(n):
        out.append(f"<text x='{px(i):.1f}' y='{top + ph + 14}' class='tick' "
                   f"text-anchor='middle'>{i}</text>")
    out.append(f"<text x='{left + pw / 2:.1f}' y='{height - 6}' class='tick' "
               f"text-anchor='middle'>{_e(xlabel)}</text>")
    for k, s in enumerate(series):
        colour = (ORACLE_GREYS[k % len(ORACLE_GREYS)] if s.dashed
                  else PALETTE[k % len(PALETTE)])
        pts = " ".join(f"{px(i):.1f},{py(y):.1f}" for i, y in enumerate(s.ys) if math.isfinite(y))
        dash = " stroke-dasharray='5 3'" if s.dashed else ""
        out.append(f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='"
                   f"{1.5 if s.dashed else 2.2}'{dash}><title>{_e(s.label)}</title></polyline>")
        ly = top + 4 + 15 * k
        out.append(f"<line x1='{width - right + 10}' x2='{width - right + 30}' y1='{ly}' "
                   f"y2='{ly}' stroke='{colour}' stroke-width='2'{dash}/>"
                   f"<text x='{width - right + 34}' y='{ly + 4}' class='tick'>"
                   f"{_e(s.label[:44])}</text>")
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Strip:
    label: str
    points: Sequence[tuple[float, bool, str]]  # (log10 error/tol, passed, tooltip)


def strip_plot(strips: Sequence[Strip], title: str, lo: float = -6.0, hi: float = 3.0,
               width: int = 760) -> str:
    """One row per implementation; a dot per check at log10(error / tolerance).

    Values are clipped to [lo, hi] (an exact result sits at ``lo``); the line at
    0 is the tolerance: dots right of it failed.
    """
    if not strips:
        return f"<p class='muted'>{_e(title)}: no checks.</p>"
    left, right, row_h, top = 330, 20, 18, 30
    pw = width - left - right
    height = top + row_h * len(strips) + 34

    def px(v: float) -> float:
        return left + pw * (min(max(v, lo), hi) - lo) / (hi - lo)

    out = [f"<svg class='chart' role='img' viewBox='0 0 {width} {height}' width='{width}' "
           f"height='{height}' xmlns='http://www.w3.org/2000/svg'><title>{_e(title)}</title>",
           f"<text x='10' y='16' class='ct'>{_e(title)}</text>"]
    for t in range(math.ceil(lo), math.floor(hi) + 1):
        cls = "tol" if t == 0 else "grid"
        out.append(f"<line x1='{px(t):.1f}' x2='{px(t):.1f}' y1='{top}' "
                   f"y2='{top + row_h * len(strips)}' class='{cls}'/>"
                   f"<text x='{px(t):.1f}' y='{top + row_h * len(strips) + 14}' class='tick' "
                   f"text-anchor='middle'>1e{t}</text>")
    out.append(f"<text x='{left + pw / 2:.1f}' y='{height - 4}' class='tick' "
               "text-anchor='middle'>max error / tolerance (log scale; right of the red line "
               "fails)</text>")
    for r, s in enumerate(strips):
        y = top + row_h * r + row_h / 2
        out.append(f"<text x='{left - 6}' y='{y + 4:.1f}' class='tick' text-anchor='end'>"
                   f"{_e(s.label[:52])}</text>")
        for v, passed, tip in s.points:
            jitter = (zlib.crc32(tip.encode()) % 100 / 100 - 0.5) * (row_h - 6)
            out.append(f"<circle cx='{px(v):.1f}' cy='{y + jitter:.1f}' r='2.6' "
                       f"class='{'pass' if passed else 'fail'}'><title>{_e(tip)}</title>"
                       "</circle>")
    out.append("</svg>")
    return "".join(out)
