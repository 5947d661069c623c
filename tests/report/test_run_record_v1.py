"""run.json files of schema chaosrunner/run/v1 still render: migrated to the run record on read.

``tests/report/v1/`` keeps two v1 files and what the v1 code rendered from them:
``real-failover`` — a real run on the embedded demo (load, writer, role probe, a kill of the store
primary while the standby lagged: failover, lost writes, SLO windows), written by ``run_document``
before the record was typed; ``synthetic-gameday`` — the report tests' v1 document (a game day,
hostile text, window figures under the report's own names). Their summary.md and junit.xml must
come out exactly as v1 wrote them.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError
from report_runs import PAYLOAD, build_run, write_run
from run_records import not_a_record
from typer.testing import CliRunner

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status
from chaosrunner.cli.main import app
from chaosrunner.results import RUN_SCHEMA, RecordError, RunRecord, migrate_v1, read_run_record, run_record

V1 = Path(__file__).with_name("v1")


def v1_doc(name: str) -> dict:
    return json.loads((V1 / f"{name}.run.json").read_text())


def v1_run_dir(folder: Path, name: str) -> Path:
    doc = v1_doc(name)
    run_dir = folder / doc["run_id"]
    run_dir.mkdir(parents=True)
    shutil.copy(V1 / f"{name}.run.json", run_dir / "run.json")
    return run_dir


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("name", ["real-failover", "synthetic-gameday"])
def test_report_render_accepts_a_v1_run_and_renders_it_as_v1_did(tmp_path, name):
    run_dir = v1_run_dir(tmp_path, name)
    r = cli("report", "render", str(run_dir))
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(run_dir / "report.html")
    assert (run_dir / "summary.md").read_text() == (V1 / f"{name}.summary.md").read_text()
    assert (run_dir / "junit.xml").read_text() == (V1 / f"{name}.junit.xml").read_text()
    assert json.loads((run_dir / "run.json").read_text())["schema"] == "chaosrunner/run/v1"   # read, not rewritten


def test_the_real_v1_run_keeps_every_figure():
    record = run_record(v1_doc("real-failover"))
    assert record.schema_version == RUN_SCHEMA and record.status is RunStatus.FAILED and record.exit_code == 1
    [w] = record.measurements.windows
    assert w.targets == ["store-standby", "store-primary"]            # taken from the fault events
    assert w.recovered and w.recovery_time == pytest.approx(3.49, abs=0.01)
    assert w.failover_result is not None and w.failover_result.new_primary == "store-b"
    assert record.measurements.integrity is not None and record.measurements.integrity.lost == 30
    assert record.measurements.slo is not None and record.measurements.slo["fault"].p99 == 6.5
    assert [v.name for v in record.verdicts if v.status is Status.FAILED] == [
        "slo error_rate (fault)", "slo error_rate (recovery)", "rpo"]
    assert record.plan is not None and record.plan.drivers == ["process"]
    assert record.started is not None and record.started.isoformat().startswith("2026-11-30T06:55:51.67")


def test_the_real_v1_report_shows_what_v1_showed(tmp_path):
    html = (Path(cli("report", "render", str(v1_run_dir(tmp_path, "real-failover"))).output.strip())).read_text()
    assert "<title>✗ v1-fixture-failover — failed" in html
    assert "store-standby, store-primary" in html and "3.49s ±250ms" in html        # the fault window
    assert "1.5s ± 50ms" in html and "lost (acknowledged, then missing or altered)" in html
    assert "49.02%" in html and "SLO windows" in html
    assert len(re.findall(r"<svg\b", html)) == 4


def test_v1_window_figures_under_the_report_names_move_to_the_analysis_names():
    doc = migrate_v1(v1_doc("synthetic-gameday"))
    [w] = doc["measurements"]["windows"]
    figures = (w["window"], w["t0"], w["reverted_at"], w["detection_time"], w["recovery_time"])
    assert figures == (0, 20.0, 40.0, 1.0, 8.5)
    assert not {"index", "start", "end", "detection", "recovery"} & set(w)
    record = run_record(v1_doc("synthetic-gameday"))
    assert record.gameday is not None and record.gameday.roles == {"commander": "alice", "scribe": ["bob", "carol"]}
    assert PAYLOAD in record.notes[0].text


def test_a_v1_window_without_targets_or_recovery_is_completed_from_the_events():
    doc = v1_doc("synthetic-gameday")
    doc["measurements"]["windows"] = [{"window": 0, "t0": 20.0, "reverted_at": 40.0, "detection_time": 1.0,
                                       "resolution": 0.25}]
    [w] = run_record(doc).measurements.windows
    assert w.targets == ["postgres-primary"] and w.recovered is False    # it deviated and never said it recovered


def test_v1_exit_code_comes_from_the_status_and_odd_parts_are_read_leniently():
    doc = v1_doc("synthetic-gameday")
    doc.update(exit_code=0, measurements=None, plan={"drivers": ["toxiproxy"]}, surplus="dropped")
    doc["verdicts"][0]["status"] = "splendid"
    record = run_record(doc)
    assert record.status is RunStatus.ABORTED and record.exit_code == 3
    assert record.measurements.windows == [] and record.plan is not None and record.plan.drivers == ["toxiproxy"]
    assert record.verdicts[0].status is Status.UNKNOWN and record.verdicts[0].detail == "unreadable verdict in run.json"


def test_a_minimal_v1_document_migrates_and_renders(tmp_path):
    minimal = {"schema": "chaosrunner/run/v1", "run_id": "r1", "experiment": {"name": "x"}, "status": "held"}
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps(minimal))
    r = cli("report", "render", str(run_dir))
    assert r.exit_code == 0, r.output
    assert "✓</span> Held" in (run_dir / "report.html").read_text()
    assert (run_dir / "summary.md").read_text().startswith("## ✓ x: held")


def test_migrated_records_validate_against_the_published_schema():
    schema = json.loads(cli("schema", "--run-record").output)
    assert schema == RunRecord.run_record_schema()
    for name in ("real-failover", "synthetic-gameday"):
        jsonschema.validate(run_record(v1_doc(name)).document(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(v1_doc("real-failover"), schema)           # a v1 file itself is not a v2 record


def test_report_index_accepts_v1_runs_beside_v2_ones(tmp_path):
    v1_run_dir(tmp_path, "real-failover")
    v1_run_dir(tmp_path, "synthetic-gameday")
    write_run(tmp_path, build_run(status="held", rto=3.0, started=1_796_000_000.0))
    r = cli("report", "index", str(tmp_path))
    assert r.exit_code == 0, r.output
    html = (tmp_path / "index.html").read_text()
    rows = re.findall(r'<tr data-experiment="([^"]*)" data-status="(\w+)"', html)
    assert sorted(rows) == [("database-failure", "aborted"), ("database-failure", "held"),
                            ("v1-fixture-failover", "failed")]
    assert "✗ not recovered" not in html and "3.49s" in html and "1.5s" in html        # RTO and RPO columns


def test_what_is_not_a_readable_run_record_is_refused_with_a_reason(tmp_path):
    doc = v1_doc("synthetic-gameday")
    with pytest.raises(RecordError, match="chaosrunner/run/v0"):
        run_record({**doc, "schema": "chaosrunner/run/v0"})
    v2 = build_run().document()
    with pytest.raises(ValidationError, match="does not match status"):
        run_record({**v2, "exit_code": 0})                               # a failed run's exit code is 1
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        run_record({**v2, "surplus": 1})
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({**doc, "schema": "chaosrunner/run/v0"}))
    not_a_record(run_dir, "a schema no version reads, on purpose")
    r = cli("report", "render", str(run_dir))
    assert r.exit_code == 2 and "chaosrunner/run/v0" in r.output
    with pytest.raises(RecordError):
        read_run_record(run_dir)
