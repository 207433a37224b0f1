"""Benchmark of the suite against its floor: the adapter's own calls in a bare loop.

``python -m conformance.bench`` (or ``nox -s bench``) prints, per framework,
import time, cases, checks, wall time, cases per second and peak memory of the
suite's worker beside the wall time and peak memory of the floor
(:mod:`conformance.bench.floor`: the same adapter's implementations called on
the same inputs with no records, files or orchestration). The ratio suite /
floor is the cost of the suite's machinery, read in one run on one machine.
The whole default matrix, growth (1x, 4x, 16x cases) and report timings follow.
"""
