"""JUnit XML of the gate: one testcase per behaviour, failures and errors where they belong."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from conformance.expectations import Check, FieldDiff, Outcome
from conformance.report.junit import render_junit


def test_outcomes_map_to_junit_elements() -> None:
    checks = [
        Check("torch", "2.13.0", "torch.nn.Dropout", "rate_one", "zeros", "zeros", Outcome.OK),
        Check("torch", "2.13.0", "torch.nn.Dropout", "rate_zero", "identity", "nan",
              Outcome.CHANGED, "was <identity> & \"quoted\""),
        Check("mxnet", "", "mxnet.gluon.nn.BatchNorm", "momentum_default", "0.9", "",
              Outcome.UNAVAILABLE, "run is ERROR: no wheel"),
        Check("keras", "", "", "", "", "", Outcome.UNAVAILABLE, "run is ERROR: import failed"),
    ]
    root = ET.fromstring(render_junit(checks))
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped")) == ("4", "1", "1", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"torch", "mxnet", "keras"}
    failure = suites["torch"].find("testcase[@name='rate_zero']/failure")
    assert failure is not None and failure.text == 'was <identity> & "quoted"'
    assert failure.get("message") == "changed: expected identity, measured nan"
    assert suites["mxnet"].find("testcase/error") is not None
    assert suites["keras"].find("testcase/skipped") is not None
    assert suites["torch"].find("testcase[@name='rate_one']/*") is None


def test_a_changed_field_is_named_in_the_failure_message() -> None:
    check = Check("torch", "2.13.0", "torch.nn.BatchNorm2d", "normalize_variance", "biased",
                  "biased", Outcome.CHANGED, "torch.toml: reviewed",
                  (FieldDiff("agrees", "yes", "unverified"),))
    root = ET.fromstring(render_junit([check]))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "changed agrees: expected yes, measured unverified"
