"""reports/history.sqlite: a row per run, written by every run, read by the index, rebuilt when lost."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from run_records import not_a_record

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.report import render_index
from chaosrunner.results import RunRecord, write_run_json
from chaosrunner.results.history import HISTORY_FILE, History, record_run
from chaosrunner.results.record import (
    ExperimentInfo,
    IntegrityMeasurement,
    Measurements,
    SloWindow,
    WindowMeasurement,
)

ROOT = Path(__file__).resolve().parents[2]
QUICK = """\
name: {name}
steady_state:
  - probe: {{type: command, name: ok, command: "true"}}
method:
  - pause: 300ms
sampling: {{interval: 100ms, stable_for: 200ms}}
"""


def record(i: int, name: str = "db-failure", status: RunStatus = RunStatus.HELD, rto: float | None = 3.0,
           file: str | None = None) -> RunRecord:
    started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i)
    failed = status is not RunStatus.HELD
    return RunRecord(
        run_id=f"{started:%Y%m%dT%H%M%SZ}-{name}-{i:04x}", experiment=ExperimentInfo(name=name, file=file,
                                                                                   raw={"name": name}),
        status=status, exit_code=status.exit_code, started=started, ended=started + timedelta(seconds=60),
        duration_s=60.0,
        verdicts=[Verdict("rto", Status.FAILED if failed else Status.PASSED, "≤ 5s", f"{rto}s")],
        measurements=Measurements(
            windows=[WindowMeasurement(window=0, t0=10.0, reverted_at=20.0, detected=True, detection_time=0.5,
                                       recovered=rto is not None, recovery_time=rto, failover=2.5)],
            integrity=IntegrityMeasurement(rpo=0.2, lost=3),
            slo={"baseline": SloWindow(p99=120.0, error_rate=0.0), "fault": SloWindow(p99=480.0, error_rate=0.02),
                 "recovery": SloWindow(p99=150.0, error_rate=0.001)}),
        versions={"chaosrunner": "0.1.0"})


def write(reports: Path, rec: RunRecord, schedule_entry: str | None = None) -> Path:
    d = reports / rec.run_id
    write_run_json(d, rec)
    assert record_run(d, rec, schedule_entry) is not None
    return d


def test_a_row_holds_the_figures_and_the_index_reads_the_history_not_run_json(tmp_path):
    reports = tmp_path / "reports"
    d = write(reports, record(1, rto=4.0), schedule_entry="monthly")
    write(reports, record(2, status=RunStatus.FAILED, rto=None))
    with History.open(reports) as h:
        rows = h.rows()
    assert [r.status for r in rows] == [RunStatus.FAILED, RunStatus.HELD]           # newest first
    old = rows[1]
    assert (old.run_id, old.schedule_entry, old.rto, old.failover, old.rpo, old.lost) == \
        (d.name, "monthly", 4.0, 2.5, 0.2, 3)
    assert (old.p99_baseline, old.p99_fault, old.p99_recovery, old.p99) == (120.0, 480.0, 150.0, 480.0)
    assert (old.error_rate_fault, old.exit_code, old.version, old.duration_s) == (0.02, 0, "0.1.0", 60.0)
    assert len(old.file_hash or "") == 64 and old.started == "2026-01-01T01:00:00.000000Z"
    assert rows[0].recovered is False and rows[0].rto is None and rows[0].failed == ["rto"]
    # the index comes from the history: a run.json damaged after its run was recorded does not hide it
    (d / "run.json").write_text("{damaged")
    not_a_record(d, "damaged on purpose: the index must read the history")
    html = render_index(reports).read_text()
    assert len(re.findall(r"<tr data-experiment=", html)) == 2 and "4s" in html and "not recovered" in html


def test_git_commit_of_the_experiment_file_when_in_a_repository(tmp_path):
    rec = record(1, file=str(ROOT / "experiments" / "api-latency.yaml"))
    d = write(tmp_path, rec)
    with History.open(tmp_path) as h:
        [row] = h.rows()
    head = subprocess.run(["git", "log", "-1", "--format=%H", "--", "experiments/api-latency.yaml"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    assert row.git_commit == head and len(head) == 40 and row.run_dir == d.name
    outside = tmp_path / "x.yaml"
    outside.write_text("name: x\n")
    assert write(tmp_path / "r2", record(2, file=str(outside))) and \
        History.open(tmp_path / "r2").rows()[0].git_commit is None


def test_missing_history_is_rebuilt_from_the_run_folders_with_what_run_json_cannot_say(tmp_path):
    for i in range(5):
        write(tmp_path, record(i), schedule_entry="nightly" if i % 2 else None)
    before = History.open(tmp_path).rows()
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp_path / HISTORY_FILE) + suffix).unlink(missing_ok=True)
    (tmp_path / "no-history-json").mkdir()
    write_run_json(tmp_path / "no-history-json", record(9, name="older"))      # a run from before the history
    with History.open(tmp_path) as h:
        after = h.rows()
    assert len(after) == 6 and {r.run_id for r in after} >= {r.run_id for r in before}
    assert [r.schedule_entry for r in after if r.experiment == "db-failure"] == \
        [r.schedule_entry for r in before]
    assert next(r for r in after if r.experiment == "older").run_dir == "no-history-json"


def test_corrupt_history_is_moved_aside_and_rebuilt(tmp_path, capfd):
    for i in range(3):
        write(tmp_path, record(i))
    for suffix in ("-wal", "-shm"):
        Path(str(tmp_path / HISTORY_FILE) + suffix).unlink(missing_ok=True)
    (tmp_path / HISTORY_FILE).write_bytes(b"this is not a database" * 200)
    html = render_index(tmp_path).read_text()
    assert len(re.findall(r"<tr data-experiment=", html)) == 3
    assert list(tmp_path.glob(HISTORY_FILE + ".corrupt-*")), "the corrupt file is kept for a human"
    assert "rebuilding it from the run folders" in capfd.readouterr().err
    assert sqlite3.connect(tmp_path / HISTORY_FILE).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_history_failure_never_fails_the_run(tmp_path, capfd):
    rec = record(1)
    d = tmp_path / "reports" / rec.run_id
    write_run_json(d, rec)
    (tmp_path / "reports" / HISTORY_FILE).mkdir()          # cannot be opened as a database
    assert record_run(d, rec) is None
    assert "not added to the history" in capfd.readouterr().err


WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    sys.path[:0] = [{tests!r}, {support!r}]
    from test_history import record
    from chaosrunner.results import write_run_json
    from chaosrunner.results.history import record_run
    from pathlib import Path
    reports, worker, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    go = Path(sys.argv[4])
    while not go.exists():
        pass
    for i in range(n):
        rec = record(worker * 1000 + i)
        d = reports / rec.run_id
        write_run_json(d, rec)
        assert record_run(d, rec) is not None
""")


def test_processes_finishing_at_once_never_lose_a_row(tmp_path):
    """Six processes record 30 runs each at the same moment (a busy history, a missing one at first)."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent), support=str(Path(__file__).parents[1])))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "reports"), str(w), "30", str(go)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for w in range(6)]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "not added" not in err, err
    with History.open(tmp_path / "reports") as h:
        assert len(h.run_ids()) == 180


@pytest.mark.slow
def test_real_runs_at_once_each_add_their_row(tmp_path):
    """Four `chaosrunner run` processes started together: four rows, each with its figures."""
    reports = tmp_path / "reports"
    procs = []
    for i in range(4):
        exp = tmp_path / f"quick-{i}.yaml"
        exp.write_text(QUICK.format(name=f"quick-{i}"))
        procs.append(subprocess.Popen([sys.executable, "-m", "chaosrunner", "run", str(exp), "--report-dir",
                                       str(reports), "--non-interactive", "--json"], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, "CHAOSRUNNER_SCHEDULE_ENTRY": f"e{i}"}))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    with History.open(reports) as h:
        rows = h.rows()
    assert sorted(r.experiment for r in rows) == [f"quick-{i}" for i in range(4)]
    assert sorted(r.schedule_entry or "" for r in rows) == ["e0", "e1", "e2", "e3"]
    assert all(r.status is RunStatus.HELD and r.exit_code == 0 and r.duration_s for r in rows)


def test_the_index_reads_the_run_folders_when_the_history_cannot_be_opened(tmp_path, capfd):
    for i in range(2):
        write(tmp_path, record(i))
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp_path / HISTORY_FILE) + suffix).unlink(missing_ok=True)
    (tmp_path / HISTORY_FILE).mkdir()                      # not a database, and not one that can be moved aside
    html = render_index(tmp_path).read_text()
    assert len(re.findall(r"<tr data-experiment=", html)) == 2
    assert "reading the run folders" in capfd.readouterr().err
