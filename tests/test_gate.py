"""`chaosrunner gate` on a real local service: --repeat, --run-dir, pins, --min-score, and bad input (exit 2).

The service (tests/services/web.py) is frozen (SIGSTOP) for a second by each run, so every run
measures an RTO; the fault is reverted (SIGCONT) and the test checks the process runs again.
"""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrunner.cli.main import app
from run_records import not_a_record
from support import run_dirs

CHAOSRUNNER = Path(sys.executable).parent / "chaosrunner"

SHORT = """\
name: gate-short
hypothesis: The service answers again within 5 seconds
steady_state:
  - probe: {type: http, name: health, url: "${web.url}/health", timeout: 300ms}
method:
  - pause: 200ms
  - action: {type: process, operation: stop, target: web, duration: 1s}
objectives: {rto: 5s}
sampling: {interval: 100ms, stable_for: 300ms}
abort_when: [{probe_failing_for: 20s}]
"""


def files(tmp_path: Path, web) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    exp, inv = tmp_path / "short.yaml", tmp_path / "inventory.yaml"
    exp.write_text(SHORT)
    inv.write_text(f"environment: local\ntargets:\n  web:\n    url: {web.url}\n"
                   f"    process: {{pidfile: {web.pidfile}}}\n")
    return exp, inv


def gate(exp: Path, inv: Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSRUNNER), "gate", str(exp), "--targets", str(inv), "--report-dir", str(reports),
                           *args], capture_output=True, text=True, timeout=180, cwd=reports.parent)


@pytest.mark.slow
def test_repeat_compares_the_median_and_pins_and_run_dir_work(tmp_path, web):
    exp, inv = files(tmp_path, web)
    reports = tmp_path / "reports"
    r = gate(exp, inv, reports, "--repeat", "3", "--update-baseline", "--min-score", "10")
    assert r.returncode == 0, r.stderr[-3000:]
    assert web.state() != "stopped"                          # the last fault was reverted
    runs = run_dirs(reports)
    assert len(runs) == 3
    [last] = [d for d in runs if (d / "gate.json").exists()]
    result = json.loads((last / "gate.json").read_text())
    assert len(result["runs"]) == 3 and result["baseline"] is None and result["pinned"]
    assert any("median of 3 runs" in n for n in result["notices"])
    rtos = sorted(json.loads((d / "history.json").read_text())["rto"] for d in runs)
    assert "now = the median of 3 runs" in (last / "summary.md").read_text()
    pinned_id = next(n for n in result["notices"] if n.startswith("pinned run ")).split()[2]

    # the next gate compares with the pinned run, and shows the median's rto as its baseline
    job_summary = tmp_path / "job-summary.md"
    job_summary.write_text("# earlier steps\n")
    again = gate(exp, inv, reports, "--json", "--summary", str(job_summary))
    assert again.returncode == 0, again.stderr[-3000:]
    text = job_summary.read_text()
    assert text.startswith("# earlier steps\n") and "## ✓ gate-short: held" in text and "| rto |" in text
    [res] = json.loads(again.stdout)
    assert res["baseline"] == pinned_id and "pinned" in res["baseline_how"]
    [rto] = [f for f in res["figures"] if f["figure"] == "rto"]
    assert rto["baseline"] == pytest.approx(rtos[1], abs=0.11)    # the run closest to the median was pinned
    new_dir = reports / res["runs"][0]
    assert ET.parse(new_dir / "junit.xml").getroot().find("testsuite[@name='gate-short gate']") is not None

    # --run-dir: gate a finished run without running anything; an impossible --min-score fails it
    before = len(run_dirs(reports))
    r = gate(exp, inv, reports, "--run-dir", str(new_dir), "--min-score", "100", "--tolerance", "rto=off")
    assert r.returncode == 1, r.stderr[-3000:]
    assert len(run_dirs(reports)) == before
    assert "below the minimum 100" in (new_dir / "summary.md").read_text()
    junit = ET.parse(new_dir / "junit.xml").getroot()
    assert [f.get("type") for f in junit.iter("failure")] == ["score"]
    assert (new_dir / "summary.md").read_text().count("Gate: baseline vs now") == 1   # replaced, not appended


BAD = [
    (["--tolerance", "speed=+20%"], "unknown figure 'speed' in --tolerance"),
    (["--tolerance", "rto=fast"], "--tolerance rto='fast' is not a tolerance for rto"),
    (["--tolerance", "lost"], "is not FIGURE=VALUE"),
    (["--baseline", "20990101T000000Z-nope-0000"], "--baseline 20990101T000000Z-nope-0000: no such run"),
    (["--repeat", "0"], "--repeat 0: give a number of runs from 1 to 20"),
    (["--min-score", "120"], "--min-score 120: a score is between 0 and 100"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_exits_2_with_a_clear_message_and_runs_nothing(tmp_path, web, args, message):
    exp, inv = files(tmp_path, web)
    reports = tmp_path / "reports"
    r = CliRunner().invoke(app, ["gate", str(exp), "--targets", str(inv), "--report-dir", str(reports), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not reports.exists() or not run_dirs(reports)


def test_a_baseline_of_another_experiment_is_refused_before_anything_runs(tmp_path, web):
    sys.path.insert(0, str(Path(__file__).parent / "report"))
    from report_runs import build_run, write_run

    other = write_run(tmp_path / "elsewhere", build_run(status="held", writes=False), "other-run")
    exp, inv = files(tmp_path, web)
    reports = tmp_path / "reports"
    r = CliRunner().invoke(app, ["gate", str(exp), "--targets", str(inv), "--report-dir", str(reports),
                                 "--baseline", str(other)])
    assert r.exit_code == 2, r.output
    assert "is a run of 'database-failure', not of 'gate-short'" in r.output and "Traceback" not in r.output
    assert not reports.exists() or not run_dirs(reports)


def test_run_dir_that_is_not_a_run_and_a_baseline_file_that_is_not_a_record(tmp_path):
    r = CliRunner().invoke(app, ["gate", "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "no run.json there" in r.output, r.output
    (tmp_path / "run.json").write_text("{}")
    not_a_record(tmp_path, "a broken run.json on purpose: gate --run-dir must refuse it")
    r = CliRunner().invoke(app, ["gate", "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "run.json is not a run record" in r.output, r.output
    r = CliRunner().invoke(app, ["gate"])
    assert r.exit_code == 2 and "gate needs an experiment FILE" in r.output, r.output
    day = Path(__file__).parents[1] / "gamedays" / "database-failover.yaml"
    r = CliRunner().invoke(app, ["gate", str(day), "--report-dir", str(tmp_path / "reports")])
    assert r.exit_code == 2 and "gate takes experiment files; this is a game day" in r.output, r.output


def test_a_severity_that_is_not_on_the_scale_is_refused_with_its_line(tmp_path):
    exp = tmp_path / "x.yaml"
    exp.write_text("name: x\nseverity: urgent\nmethod:\n  - pause: 1s\n")
    r = CliRunner().invoke(app, ["validate", str(exp)])
    assert r.exit_code == 2, r.output
    assert f"{exp}:2:11: severity: 'urgent' is not allowed here; expected 'critical', 'high', 'medium' or 'low'" \
        in r.output
    exp.write_text("name: x\nseverity: high\nmethod:\n  - pause: 1s\n")
    assert CliRunner().invoke(app, ["validate", str(exp)]).exit_code == 0
    # the one scale of the risk register (model.risks.Severity): the seed's spelling is read as well
    from chaosrunner.api import load_experiment
    exp.write_text("name: x\nseverity: Critical\nmethod:\n  - pause: 1s\n")
    [loaded] = load_experiment(exp)
    assert loaded.model.severity == "critical"


def test_the_gate_suite_keeps_junit_xml_valid_for_jenkins_and_ant(tmp_path):
    import xmlschema

    from chaosrunner.analyse.regression import Figure, compare, parse_tolerances
    from chaosrunner.gate import GateResult, GateRun, add_to_junit, junit_suite
    from chaosrunner.report.junit import junit_xml
    from chaosrunner.results.history import history_row

    sys.path.insert(0, str(Path(__file__).parent / "report"))
    from report_runs import build_run

    record = build_run(status="held", writes=False)
    result = GateResult(experiment="database-failure", runs=[GateRun(record, tmp_path, history_row(record))],
                        figures={}, baseline=None, baseline_how="run x", min_score=99.0, score=50.0,
                        comparisons=compare({"failover": Figure(2.3, 0.25)}, {"failover": Figure(9.1, 0.25)},
                                            parse_tolerances(None)))
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(record))
    add_to_junit(path, junit_suite(result))
    add_to_junit(path, junit_suite(result))                    # a second gate replaces the suite
    here = Path(__file__).parent / "report"
    for xsd in ("junit.xsd", "jenkins-junit.xsd"):
        xmlschema.XMLSchema(here / xsd).validate(path)
    root = ET.parse(path).getroot()
    assert len(root.findall("testsuite")) == 2
    messages = [f.get("message") for f in root.iter("failure")]
    assert "failover 9.1 s vs baseline 2.3 s (+296 %, tolerance +20 %)" in messages
    assert "score 50.0 below the minimum 99" in messages
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in root.findall("testsuite"))
