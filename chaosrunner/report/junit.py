"""JUnit XML for CI systems: one test case per verdict, failures say measured vs expected.

The output satisfies both the Jenkins junit plugin's schema and the stricter Ant/JUnit one
(``testsuite`` carries name, timestamp, hostname, tests, failures, errors, skipped, time, id and
package; every ``testcase`` carries name, classname and time). An aborted run, or one whose fault
could not be reverted, adds a ``run`` test case with an ``error`` so the pipeline shows why.

A declared objective that could not be measured (UNKNOWN, kind objective or slo) is a
``failure`` with ``type="inconclusive"`` and the message ``could not be measured: ...``, not a
skip: the run exits 1 (inconclusive), and a CI system must show why. An unmeasured hypothesis
and a verdict that did not apply (SKIPPED) are ``skipped``. ``<testsuites>`` carries only the
attributes the Jenkins schema (xunit-plugin junit-10.xsd) allows there (no ``skipped``).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, UTC
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import OBJECTIVE_KINDS, Status
from chaosrunner.results import RunRecord

# XML 1.0 forbids most control characters; a target's error text may contain them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: Any) -> str:
    return _INVALID_XML.sub("\ufffd", "" if text is None else str(text))


def _token(text: Any, fallback: str) -> str:
    """xs:token: no leading/trailing/double spaces, no tabs or newlines; never empty."""
    return " ".join(_x(text).split()) or fallback


def _timestamp(started: datetime | None) -> str:
    return (started or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def junit_xml(record: RunRecord, hostname: str = "chaosrunner") -> str:
    exp = record.experiment
    name = _token(exp.name, "experiment")
    verdicts = record.verdicts
    duration = float(record.duration_s or 0.0)
    status = record.status
    cases: list[ET.Element] = []
    failures = errors = skipped = 0
    for v in verdicts:
        case = ET.Element("testcase", name=_token(v.name, "verdict"), classname=name, time="0")
        if v.status is Status.FAILED:
            failures += 1
            el = ET.SubElement(case, "failure", message=_x(f"measured {v.measured}, expected {v.expected}"),
                               type=_token(v.kind, "hypothesis"))
            el.text = _x("\n".join(x for x in (f"expected: {v.expected}", f"measured: {v.measured}",
                                               f"precision: ±{v.precision:g}" if v.precision is not None else "",
                                               v.detail) if x))
        elif v.status is Status.UNKNOWN and v.kind in OBJECTIVE_KINDS:
            failures += 1        # a declared objective without a number: the gate must not pass (exit 1)
            el = ET.SubElement(case, "failure", message=_x(f"could not be measured: {v.measured}"),
                               type=RunStatus.INCONCLUSIVE.value)
            el.text = _x("\n".join(x for x in (f"expected: {v.expected}", f"measured: {v.measured}", v.detail) if x))
        elif v.status in (Status.SKIPPED, Status.UNKNOWN):
            skipped += 1
            ET.SubElement(case, "skipped", message=_x(f"{v.status.value}: {v.measured}" + (
                f" ({v.detail})" if v.detail else "")))
        cases.append(case)
    if status in (RunStatus.ABORTED, RunStatus.REVERT_FAILED):
        errors += 1
        case = ET.Element("testcase", name="run", classname=name, time=f"{duration:.3f}")
        reason = record.abort_reason or ""
        if status is RunStatus.REVERT_FAILED:
            reason = "a fault could not be reverted and needs a human: " + "; ".join(record.revert_failures) or reason
        el = ET.SubElement(case, "error", message=_x(f"run {status.value}: {reason}".strip(": ")),
                           type=_token(status.value, "error"))
        el.text = _x(reason)
        cases.append(case)
    root = ET.Element("testsuites", name=name, tests=str(len(cases)), failures=str(failures),
                      errors=str(errors), time=f"{duration:.3f}")
    suite = ET.SubElement(root, "testsuite", name=name, timestamp=_timestamp(record.started),
                          hostname=_token(hostname, "chaosrunner"), tests=str(len(cases)),
                          failures=str(failures), errors=str(errors), skipped=str(skipped),
                          time=f"{duration:.3f}", id="0", package="chaosrunner")
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", record.run_id), ("status", status.value), ("exit_code", record.exit_code),
                       ("experiment_file", exp.file), ("hypothesis", exp.hypothesis)):
        if value is not None:
            ET.SubElement(props, "property", name=key, value=_x(value))
    suite.extend(cases)
    out = ET.SubElement(suite, "system-out")
    out.text = _x(f"run {record.run_id}: {status.value}\nreport: report.html\n")
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
