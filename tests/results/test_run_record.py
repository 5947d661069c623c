"""The run record: built from a plan, a timeline and its analysis; redacted; written; published as a JSON Schema."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from support import run_cli, write

from chaosrunner import api
from chaosrunner.analyse.judge import Analysis, run_status
from chaosrunner.analyse.status import RunStatus
from chaosrunner.read.resolve import Secrets
from chaosrunner.results import RunRecord, RunResult, read_run_record, redacted, run_document, write_run_json
from chaosrunner.timeline import EventKind, Sample, Timeline

SECRET = "s3cr3t-token-7f2a"
EXPERIMENT = """\
name: web-stop
hypothesis: the service answers again once it is continued
targets: inv.yaml
steady_state:
  - probe: {type: http, name: health, url: "${web.url}/health", timeout: 400ms,
           headers: {Authorization: "Bearer ${env:WEB_TOKEN}"}}
method:
  - pause: 1s
  - action: {type: process, operation: stop, target: web, duration: 2s}
objectives: {rto: 5s}
sampling: {interval: 250ms, stable_for: 500ms}
"""


def planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WEB_TOKEN", SECRET)
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: http://127.0.0.1:9\n"
                                 f"    process: {{pidfile: {tmp_path / 'web.pid'}}}\n")
    [p] = api.plan(write(tmp_path / "exp.yaml", EXPERIMENT))
    return p


def timeline_of_an_outage() -> Timeline:
    """Down from 1.5 s to 3.0 s after the fault at 1.0 s; one probe error quoting the secret header."""
    tl = Timeline(clock=lambda: 6.0, wall_clock=lambda: 1_795_000_000.0)
    tl.event(EventKind.STEADY_STATE, t=0.2, phase="before", ok=True, probes={"health": True})
    tl.event(EventKind.FAULT_INJECTED, t=1.0, fault_id="f1", target="web", type="process", driver="process")
    tl.event(EventKind.PROBE_ERROR, t=1.6, probe="health", error=f"401 for Bearer {SECRET}")
    tl.event(EventKind.FAULT_REVERTED, t=3.0, fault_id="f1", target="web", type="process", by="revert")
    tl.event(EventKind.STEADY_STATE, t=5.0, phase="after", ok=True, probes={"health": True})
    for i in range(24):
        t = i * 0.25
        tl.add_sample(Sample("health", t, t + 0.01, not 1.5 <= t < 3.0, error=None if not 1.5 <= t < 3.0 else "down"))
    return tl


def test_a_run_becomes_a_typed_redacted_record_valid_against_its_schema(tmp_path, monkeypatch):
    p = planned(tmp_path, monkeypatch)
    tl = timeline_of_an_outage()
    analysis = Analysis(p.experiment.model, p.probe_names, tl)
    verdicts = analysis.verdicts()
    result = RunResult("r-1", p.name, run_status(verdicts, None, []), tmp_path / "r-1", verdicts)
    record = run_document(p, tl, result, analysis, None, [], [])
    assert isinstance(record, RunRecord) and record.status is RunStatus.HELD and record.exit_code == 0
    [w] = record.measurements.windows
    assert (w.window, w.t0, w.reverted_at, w.targets, w.recovered) == (0, 1.0, 3.0, ["web"], True)
    assert w.recovery_time == pytest.approx(2.0) and w.detection_time == pytest.approx(0.5)
    assert record.plan is not None and [f.target for s in record.plan.method for f in s.faults] == ["web"]
    assert record.experiment.objectives.rto == 5.0 and record.sampling is not None
    assert record.started is not None and record.started.timestamp() == 1_795_000_000.0
    assert "${env:WEB_TOKEN}" in json.dumps(record.experiment.raw)          # the file as written: no value

    result.record = redacted(record, p.experiment.secrets.redact_obj)
    path = write_run_json(result.run_dir, result.record)
    text = path.read_text()
    assert SECRET in json.dumps(record.document()) and SECRET not in text     # the record in memory, the file
    doc = json.loads(text)
    assert doc["schema"] == "chaosrunner/run/v2" and doc["status"] == "held" and doc["exit_code"] == 0
    assert doc["started"] == "2026-11-18T11:06:40.000000Z"
    jsonschema.validate(doc, RunRecord.run_record_schema())
    assert read_run_record(path) == result.record and result.data == doc


def test_a_short_secret_inside_chaosrunner_s_own_words_does_not_break_the_record(tmp_path, monkeypatch):
    p = planned(tmp_path, monkeypatch)
    tl = timeline_of_an_outage()
    analysis = Analysis(p.experiment.model, p.probe_names, tl)
    verdicts = analysis.verdicts()
    result = RunResult("r-1", p.name, run_status(verdicts, None, []), tmp_path / "r-1", verdicts)
    record = run_document(p, tl, result, analysis, None, [], [])
    secrets = Secrets({"held", "2026", "probe", "pass"})                 # unlucky environment values
    clean = redacted(record, secrets.redact_obj)
    assert clean.status is RunStatus.HELD and clean.started == record.started
    assert [e.kind for e in clean.timeline.events] == [e.kind for e in record.timeline.events]
    assert [v.status for v in clean.verdicts] == [v.status for v in record.verdicts]
    texts = [" ".join((v.name, v.expected, v.measured, v.detail)) for v in clean.verdicts]
    before = [" ".join((v.name, v.expected, v.measured, v.detail)) for v in record.verdicts]
    assert any("probe" in t for t in before) and not any("probe" in t for t in texts)


def test_untyped_parts_and_unbounded_figures_become_plain_json(tmp_path):
    """Event data may hold what a driver put there; a never-recovered window's time is unbounded."""
    tl = Timeline(clock=lambda: 1.0, wall_clock=lambda: 1_795_000_000.0)
    tl.event(EventKind.ERROR, t=0.5, where=Path("/tmp/x"), kind=RunStatus.ABORTED, error=ValueError("boom"))
    record = RunRecord.model_validate({"schema": "chaosrunner/run/v2", "run_id": "r", "experiment": {"name": "x"},
                                       "status": "failed", "measurements": {"windows": [{"window": 0, "t0": 1.0}]}})
    record.timeline.events = list(tl.events)
    record.measurements.windows[0].recovery_time = float("inf")
    doc = json.loads(write_run_json(tmp_path, record).read_text())
    assert doc["timeline"]["events"][0]["data"] == {"where": "/tmp/x", "kind": "aborted", "error": "ValueError('boom')"}
    assert doc["measurements"]["windows"][0]["recovery_time"] is None and doc["exit_code"] == 1
    jsonschema.validate(doc, RunRecord.run_record_schema())


def test_run_result_status_is_a_run_status_that_owns_the_exit_code(tmp_path):
    r = RunResult("r", "x", "revert_failed", tmp_path, [])               # type: ignore[arg-type]
    assert r.status is RunStatus.REVERT_FAILED and r.exit_code == 4 and r.data == {}
    assert r.summary()["status"] == "revert_failed" and r.summary()["exit_code"] == 4
    r.data = {"schema": "chaosrunner/run/v1", "run_id": "r", "experiment": {"name": "x"}, "status": "aborted"}
    assert isinstance(r.record, RunRecord) and r.record.exit_code == 3      # an older caller assigning a dict


def test_the_schema_command_publishes_the_run_record_schema():
    r = run_cli("schema", "--run-record")
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema == RunRecord.run_record_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema["properties"]["schema"]["const"] == "chaosrunner/run/v2"
    assert schema["$defs"]["RunStatus"]["enum"] == [s.value for s in RunStatus]
    for part in ("WindowMeasurement", "IntegrityMeasurement", "SloWindow", "TimelineRecord", "Verdict", "PlanInfo"):
        assert schema["$defs"][part]["additionalProperties"] is False, part
    assert schema["$defs"]["ExperimentInfo"]["properties"]["raw"]["additionalProperties"] is True   # untyped


@pytest.mark.slow
def test_a_real_run_returns_and_writes_its_record(tmp_path, web):
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n    process: {{pidfile: {web.pidfile}}}\n")
    write(tmp_path / "exp.yaml", EXPERIMENT.replace("${env:WEB_TOKEN}", "x").replace("pause: 1s", "pause: 500ms"))
    [result] = api.run(tmp_path / "exp.yaml", options=api.RunOptions(report_dir=tmp_path / "reports",
                                                                     handle_signals=False))
    assert result.status is RunStatus.HELD, [(v.name, v.status, v.measured) for v in result.verdicts]
    assert isinstance(result.record, RunRecord) and result.record.verdicts == result.verdicts
    on_disk = json.loads((result.run_dir / "run.json").read_text())
    assert result.data == on_disk and on_disk["schema"] == "chaosrunner/run/v2"
    jsonschema.validate(on_disk, json.loads(run_cli("schema", "--run-record").stdout))
    [w] = result.record.measurements.windows
    assert w.targets == ["web"] and w.recovered
    assert (result.run_dir / "report.html").exists() and "web-stop: held" in (result.run_dir / "summary.md").read_text()
