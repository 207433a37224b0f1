"""JUnit XML of the expectations gate, so CI shows one test per implementation and behaviour.

One ``testsuite`` per framework, one ``testcase`` per (implementation, behaviour)
named ``<behaviour>`` in class ``<framework>.<implementation>``: a difference
from the expectation is a ``failure``, an expected row whose framework could not
run is an ``error``, and an unavailable framework with no expectations is one
``skipped`` case, so it is visible without failing the build.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from conformance.expectations import Check, Outcome
from conformance.report.files import write_text_atomic


def _message(c: Check) -> str:
    """``changed agrees: expected yes, measured unverified``: names the field that moved."""
    if c.diffs:
        return f"{c.outcome.value} " + "; ".join(
            f"{d.field}: expected {d.expected or '(nothing)'}, measured {d.measured or '(nothing)'}"
            for d in c.diffs)
    return (f"{c.outcome.value}: expected {c.expected or '(nothing)'}, "
            f"measured {c.actual or '(nothing)'}")


def render_junit(checks: list[Check]) -> str:
    by_fw: dict[str, list[Check]] = defaultdict(list)
    for c in checks:
        by_fw[c.framework].append(c)
    root = ET.Element("testsuites", name="conformance expectations")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for fw, items in sorted(by_fw.items()):
        suite = ET.SubElement(root, "testsuite", name=fw)
        counts = dict.fromkeys(totals, 0)
        versions = sorted({c.version for c in items if c.version})
        if versions:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="framework_version", value=", ".join(versions))
        for c in items:
            case = ET.SubElement(suite, "testcase", classname=f"{fw}.{c.implementation or fw}",
                                 name=c.behaviour or "environment")
            counts["tests"] += 1
            message = _message(c)
            if c.outcome is Outcome.UNAVAILABLE and not c.failed:
                ET.SubElement(case, "skipped", message=c.detail)
                counts["skipped"] += 1
            elif c.outcome is Outcome.UNAVAILABLE:
                ET.SubElement(case, "error", message=message, type="unavailable").text = c.detail
                counts["errors"] += 1
            elif c.failed:
                ET.SubElement(case, "failure", message=message,
                              type=c.outcome.value).text = c.detail
                counts["failures"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(checks: list[Check], path: Path) -> Path:
    write_text_atomic(path, render_junit(checks))
    return path
