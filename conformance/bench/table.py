"""Pure formatting of bench figures, so the layout and the target checks are testable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FLOOR_TARGET = 1.3  # each framework's worker within 1.3x its adapter's bare loop
MATRIX_TARGET = 2.0  # the whole default matrix within 2x the sum of the floors
REPORT_TARGET_S = 3.0  # merge + render of the default matrix


@dataclass(frozen=True)
class Row:
    """One framework: the suite's worker beside its floor. ``None`` = not measured;
    ``note`` says why a figure is missing or does not match (printed after the row)."""

    framework: str
    import_s: float | None = None
    cases: int | None = None
    results: int | None = None
    suite_s: float | None = None
    suite_mb: float | None = None
    floor_s: float | None = None
    floor_mb: float | None = None
    suite_cpu: float | None = None  # user + system seconds: less swayed by other load
    floor_cpu: float | None = None
    error: str = ""
    note: str = ""


def _f(value: float | None, fmt: str, unit: str = "") -> str:
    width = int("".join(ch for ch in fmt.partition(".")[0] if ch.isdigit()) or 0) + len(unit)
    return ("n.a." if value is None else format(value, fmt) + unit).rjust(width)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


HEADER = (f"{'framework':<11} {'import':>7} {'cases':>6} {'checks':>7} {'suite':>8} "
          f"{'case/s':>7} {'peakMB':>7} {'floor':>8} {'floorMB':>8} {'x floor':>8} {'cpu x':>6}")


def format_row(r: Row) -> str:
    if r.error:
        return f"{r.framework:<11} ERROR {r.error[:100]}"
    per_s = None if r.cases is None or not r.suite_s else r.cases / r.suite_s
    x = ratio(r.suite_s, r.floor_s)
    mark = "" if x is None else "  OK" if x < FLOOR_TARGET else "  OVER"
    note = f"  ({r.note})" if r.note else ""
    return (f"{r.framework:<11} {_f(r.import_s, '6.2f', 's')} {_f(r.cases, '6d')} "
            f"{_f(r.results, '7d')} {_f(r.suite_s, '7.2f', 's')} {_f(per_s, '7.1f')} "
            f"{_f(r.suite_mb, '7.0f')} {_f(r.floor_s, '7.2f', 's')} {_f(r.floor_mb, '8.0f')} "
            f"{_f(x, '7.2f', 'x')} {_f(ratio(r.suite_cpu, r.floor_cpu), '5.2f', 'x')}"
            f"{mark}{note}")


def matrix_verdict(matrix_s: float, rows: Sequence[Row]) -> str:
    """The whole matrix (frameworks in parallel) against the sum of the floors run alone."""
    floors = [r.floor_s for r in rows if r.floor_s is not None and not r.error]
    total = sum(floors)
    x = ratio(matrix_s, total)
    verdict = "n.a." if x is None else ("OK" if x < MATRIX_TARGET else "OVER")
    return (f"matrix {matrix_s:.2f}s vs sum of floors {total:.2f}s: {_f(x, '.2f')}x "
            f"(target < {MATRIX_TARGET:g}x) {verdict}")


def growth_line(scale: int, cases: int, seconds: float, base: tuple[int, float] | None,
                cpu: float | None = None) -> str:
    """One growth step; ``base`` is (cases, seconds) at 1x, for the per-case slope."""
    per_case = seconds / cases if cases else float("nan")
    rel = ""
    if base is not None and base[0] and base[1]:
        rel = f"  per-case cost {per_case / (base[1] / base[0]):.2f}x of 1x"
    used = "" if cpu is None else f" (cpu {cpu:6.1f}s)"
    return (f"  {scale:>3}x {cases:>6} cases {seconds:8.2f}s{used} "
            f"{1000 * per_case:7.1f} ms/case{rel}")


def report_line(label: str, seconds: float, target: float | None = None,
                cpu: float | None = None) -> str:
    mark = "" if target is None else (" OK" if seconds < target else " OVER") + \
        f" (target < {target:g}s)"
    used = "" if cpu is None else f" (cpu {cpu:.2f}s)"
    return f"  report {label:<22} {seconds:7.2f}s{used}{mark}"
