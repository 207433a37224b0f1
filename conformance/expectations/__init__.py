"""Reviewed expectations: every measured behaviour row, and the gate on them.

One TOML file per framework (and version range) under ``expectations/``::

    framework = "torch"
    versions = "==2.13.0"          # comma-separated clauses: ==, !=, >=, <=, >, <, ==X.Y.*

    [[expect]]
    implementation = "torch.nn.BatchNorm1d"
    behaviour = "batch_size_one_training"
    actual = "error"               # the measured value
    agrees = "undocumented"        # spec.AGREEMENT: how actual and documented stand
                                   # (documented = "..." is left out when nothing is)
    reason = "raises ValueError: a batch of one has no variance"
    source = "https://..."

The key is (framework, implementation, behaviour); the gate compares actual,
documented and agrees. The pipeline, one module each: :mod:`.versions` (ranges),
:mod:`.files` (read and write), :mod:`.measure` (what was measured),
:mod:`.gate` (compare) and :mod:`.update` (rewrite after review).
"""

from __future__ import annotations

from conformance.compare.agreement import same_value
from conformance.expectations.files import load_dir, load_file
from conformance.expectations.gate import (
    Check,
    FieldDiff,
    Outcome,
    format_table,
    gate,
    verdict,
)
from conformance.expectations.measure import Measured, Measurement, measure, read_discrepancies
from conformance.expectations.update import UNREVIEWED, unified_diff, update
from conformance.expectations.versions import version_matches

__all__ = [
    "UNREVIEWED", "Check", "FieldDiff", "Measured", "Measurement", "Outcome", "format_table",
    "gate", "load_dir", "load_file", "measure", "read_discrepancies", "same_value",
    "unified_diff", "update", "verdict", "version_matches",
]
