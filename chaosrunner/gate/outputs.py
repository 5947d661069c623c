"""What the gate writes into the (last) run's folder: a ``gate`` suite in junit.xml, summary.md's table, gate.json."""
from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from chaosrunner.analyse.regression import FIGURES, change_text, format_value
from chaosrunner.gate.run import GateResult


# -- what the gate writes -------------------------------------------------------------------------------
def _x(text: object) -> str:
    from chaosrunner.report.junit import _x as clean

    return clean(text)


def junit_suite(result: GateResult) -> ET.Element:
    """The gate's ``<testsuite>``: one test case per figure, one for the score, one for the baseline."""
    name = f"{result.experiment} gate"
    suite = ET.Element("testsuite", name=name, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                       hostname="chaosrunner", tests="0", failures="0", errors="0", skipped="0", time="0",
                       id="1", package="chaosrunner")
    cases = []
    base = ET.Element("testcase", name="baseline", classname=name, time="0")
    out = ET.SubElement(base, "system-out")
    out.text = _x("; ".join([result.baseline_how or "no baseline"] + result.notices))
    cases.append(base)
    for c in result.comparisons:
        if c.figure == "score" and not c.compared:
            continue
        case = ET.Element("testcase", name=f"{c.figure} vs baseline", classname=name, time="0")
        if c.regressed:
            msg = next(m for m in result.failure_messages() if m.startswith(c.figure + " "))
            el = ET.SubElement(case, "failure", message=_x(msg), type="regression")
            el.text = _x(f"{msg}\ncombined ±: {format_value(c.combined_resolution, FIGURES[c.figure].unit)}\n"
                         f"baseline: {result.baseline_how}")
        elif not c.compared:
            ET.SubElement(case, "skipped", message=_x(c.note))
        cases.append(case)
    if result.min_score is not None:
        case = ET.Element("testcase", name="resilience score", classname=name, time="0")
        if result.below_min_score:
            ET.SubElement(case, "failure", message=_x(result.failure_messages()[-1]), type="score")
        cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    ET.SubElement(suite, "properties")
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = _x("\n".join(result.failure_messages() or ["no regression"]))
    ET.SubElement(suite, "system-err").text = ""
    return suite


def add_to_junit(path: Path, suite: ET.Element) -> None:
    """Append the gate's suite to a run's junit.xml (``<testsuites>`` totals updated)."""
    root = ET.parse(path).getroot() if path.exists() else ET.Element("testsuites", name=suite.get("name", "gate"))
    for old in [s for s in root.findall("testsuite") if s.get("name") == suite.get("name")]:
        root.remove(old)
    root.append(suite)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root.findall("testsuite"))))
    ET.indent(root)
    _write(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")


def summary_section(result: GateResult) -> str:
    """The "baseline vs now" Markdown section for summary.md."""
    from chaosrunner.report.summary import md

    failed = result.exit_code != 0
    lines = ["", f"### {'✗' if failed else '✓'} Gate: baseline vs now", ""]
    lines.append(f"Baseline: {md(result.baseline_how or 'none', 200)}")
    lines += [f"- {md(n, 300)}" for n in result.notices]
    if result.comparisons:
        lines += ["", "| Figure | Baseline | Now | Change | Tolerance | Combined ± | Verdict |",
                  "|---|---|---|---|---|---|---|"]
        for c in result.comparisons:
            unit = FIGURES[c.figure].unit
            verdict = "✗ regression" if c.regressed else ("✓ " + c.note) if c.compared else c.note
            lines.append(f"| {c.figure} | {format_value(c.baseline.value, unit)} | {format_value(c.now.value, unit)} | "
                         f"{change_text(c.baseline.value, c.now.value, unit)} | "
                         f"{c.tolerance.text if c.tolerance else '—'} | "
                         f"{format_value(c.combined_resolution, unit) if unit != 'count' else '0'} | "
                         f"{md(verdict, 80)} |")
    if result.score is not None:
        lines.append("")
        lines.append(f"Resilience score: {result.score:.1f} / 100"
                     + (f" (minimum {result.min_score:g}: {'below' if result.below_min_score else 'met'})"
                        if result.min_score is not None else ""))
    if result.regressions or result.below_min_score:
        lines += ["", "**Gate failed:** " + "; ".join(md(m, 200) for m in result.failure_messages())]
    elif result.run_exit_code:
        lines += ["", f"**Gate failed:** the run itself did not hold (exit code {result.run_exit_code})"]
    else:
        lines += ["", "**Gate passed.**"]
    return "\n".join(lines) + "\n"


def write_gate_outputs(result: GateResult, junit_copy: Path | None = None, summary_to: Path | None = None) -> Path:
    """Into the last run's folder: the gate suite in junit.xml, the section in summary.md, gate.json;
    ``junit_copy``: a copy of that junit.xml; ``summary_to``: that summary.md appended to this file (a CI job
    summary such as ``$GITHUB_STEP_SUMMARY``)."""
    run_dir = result.runs[-1].run_dir
    add_to_junit(run_dir / "junit.xml", junit_suite(result))
    summary = run_dir / "summary.md"
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    marker = "\n### "
    cut = text.find(marker + "✗ Gate:") if marker + "✗ Gate:" in text else text.find(marker + "✓ Gate:")
    _write(summary, (text[:cut] if cut >= 0 else text) + summary_section(result))
    _write(run_dir / "gate.json", json.dumps(result.summary(), indent=1) + "\n")
    if junit_copy is not None:
        junit_copy.parent.mkdir(parents=True, exist_ok=True)
        junit_copy.write_bytes((run_dir / "junit.xml").read_bytes())
    if summary_to is not None:
        summary_to.parent.mkdir(parents=True, exist_ok=True)
        with summary_to.open("a", encoding="utf-8") as fh:
            fh.write(summary.read_text(encoding="utf-8") + "\n")
    return run_dir


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
