"""junit.xml: one test case per verdict, valid against the common JUnit XML schema (tests/report/junit.xsd)."""
from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from report_runs import PAYLOAD, build_run

from chaosrunner.report import junit_xml

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit.xsd"))
JENKINS = xmlschema.XMLSchema(Path(__file__).with_name("jenkins-junit.xsd"))   # the xunit-plugin's junit-10


@pytest.mark.parametrize("kwargs", [
    {}, {"status": "held", "rto": 3.0, "rpo": None}, {"status": "aborted", "xss": True},
    {"status": "revert_failed", "gameday": True}, {"load": False, "writes": False, "fault": None},
])
def test_junit_is_valid_against_the_schema(kwargs):
    SCHEMA.validate(junit_xml(build_run(**kwargs)))
    JENKINS.validate(junit_xml(build_run(**kwargs)))


def test_the_jenkins_schema_refuses_what_jenkins_refuses():
    """It matters: <testsuites skipped=...> (which junit.xml once wrote) and an exponent time are refused."""
    good = junit_xml(build_run())
    JENKINS.validate(good)
    assert not JENKINS.is_valid(good.replace("<testsuites ", '<testsuites skipped="1" ', 1))
    assert not JENKINS.is_valid(good.replace('time="60.000"', 'time="6e1"', 1))
    assert not JENKINS.is_valid(good.replace(' name="rto"', "", 1))          # a testcase needs its name


def test_one_case_per_verdict_with_measured_vs_expected():
    run = build_run()
    root = ET.fromstring(junit_xml(run))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [v.name for v in run.verdicts]
    assert {c.get("classname") for c in cases} == {"database-failure"}
    assert suite.get("tests") == "6" and suite.get("failures") == "3" and suite.get("skipped") == "1"
    rto = cases[1].find("failure")
    assert rto.get("message") == "measured 8.5s ± 0.25s, expected ≤ 5s" and rto.get("type") == "objective"
    assert "precision: ±0.25" in rto.text
    unmeasured = cases[4].find("failure")        # an SLO objective without a number fails the gate
    assert unmeasured.get("type") == "inconclusive"
    assert unmeasured.get("message") == "could not be measured: no threshold"
    assert cases[5].find("skipped").get("message").startswith("skipped:")
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None


def test_an_aborted_run_adds_an_error_case():
    root = ET.fromstring(junit_xml(build_run(status="aborted")))
    suite = root.find("testsuite")
    err = suite.find("testcase[@name='run']/error")
    assert err is not None and "error rate above 50%" in err.get("message")
    assert suite.get("errors") == "1" and suite.get("tests") == "7"


def test_payloads_and_control_characters_stay_text():
    run = build_run(xss=True)
    run.verdicts[1] = dataclasses.replace(run.verdicts[1], detail="bad\x00byte\x1b[31m " + PAYLOAD,
                                          name="rto\n  (window 1)")
    text = junit_xml(run)
    SCHEMA.validate(text)
    assert PAYLOAD not in text
    case = ET.fromstring(text).find("testsuite/testcase[2]")
    assert case.get("name") == "rto (window 1)" and PAYLOAD in case.find("failure").text


def test_schema_rejects_what_ci_systems_reject():
    """The schema is strict enough to matter: a case without classname or time is refused."""
    bad = junit_xml(build_run()).replace(' classname="database-failure" time="0"', "", 1)
    assert not SCHEMA.is_valid(bad)


def test_an_unmeasured_hypothesis_is_skipped_not_failed():
    run = build_run()
    run.verdicts[4] = dataclasses.replace(run.verdicts[4], kind="hypothesis", name="steady state held during faults",
                                          measured="no fault was injected")
    case = ET.fromstring(junit_xml(run)).find("testsuite/testcase[5]")
    assert case.find("failure") is None
    assert case.find("skipped").get("message") == "unknown: no fault was injected"
