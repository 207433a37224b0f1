"""Benchmark of the suite against its floor: the same framework calls in a bare loop.

``python -m conformance.bench`` (or ``nox -s bench``) prints, per environment,
import time, cases, wall time, cases per second and peak memory of the suite's
worker beside the same figures for ``floor_<framework>.py``, a script that makes
only the framework calls the adapter makes. The ratio suite / floor is the cost
of the suite's machinery (isolation, records, output files), read in one run on
one machine. Growth (1x, 4x, 16x cases) and report timings follow.
"""
