"""`chaosrunner schedule run`: the foreground scheduler driving real runs, as a separate process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from support import wait_until

from chaosrunner.results.history import History
from chaosrunner.schedule.read import read_schedules
from chaosrunner.schedule.runner import Scheduler

ROOT = Path(__file__).resolve().parents[2]


class Scheduled:
    """``chaosrunner schedule run FILE`` in its own process, its decision lines collected as they come."""

    def __init__(self, file: Path, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "chaosrunner", "schedule", "run", str(file), *args],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> list[str]:
        return [ln for ln in self.lines if text in ln]

    def wait(self, timeout: float = 90) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def freeze_experiment(tmp_path: Path, web, seconds: float) -> Path:
    (tmp_path / "inv.yaml").write_text(f"targets:\n  web:\n    url: {web.url}\n"
                                       f"    process: {{pidfile: {web.pidfile}}}\n")
    exp = tmp_path / "freeze.yaml"
    exp.write_text(f"""\
name: freeze-web
targets: inv.yaml
steady_state:
  - probe: {{type: http, name: health, url: "${{web.url}}/health", timeout: 300ms}}
method:
  - action: {{type: process, operation: stop, target: web, duration: {int(seconds * 1000)}ms}}
objectives: {{rto: 10s}}
sampling: {{interval: 200ms, stable_for: 400ms}}
""")
    return exp


@pytest.mark.slow
def test_every_2s_under_forbid_with_an_overrunning_run_then_sigterm_mid_run(tmp_path, web):
    """Runs of about 5 s fired every 2 s: the fires in between are skipped (forbid); SIGTERM during the
    second run's fault reverts it, writes its report, and the scheduler exits 0. Everything is in the history."""
    freeze_experiment(tmp_path, web, 3.5)
    sched = tmp_path / "schedules.yaml"
    sched.write_text("kind: Schedules\nreport_dir: reports\nschedules:\n"
                     "  freeze:\n    every: 2s\n    run: freeze.yaml\n    concurrency: forbid\n")
    s = Scheduled(sched)
    try:
        wait_until(lambda: s.said("next fire"), 30, what="the scheduler to start")
        second = subprocess.run([sys.executable, "-m", "chaosrunner", "schedule", "run", str(sched)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "another scheduler" in second.stderr, second.stderr
        wait_until(lambda: len(s.said("started freeze.yaml")) >= 2, 40, what="a second run")
        wait_until(lambda: web.state() == psutil.STATUS_STOPPED, 20, what="the second run's fault")
        s.proc.send_signal(signal.SIGTERM)
        rc = s.wait()
    finally:
        s.stop()
    log = "\n".join(s.lines)
    assert rc == 0, log + s.proc.stderr.read() if s.proc.stderr else log
    assert web.state() != psutil.STATUS_STOPPED                              # the fault was reverted
    fired, skipped, finished = s.said(" fired "), s.said("skipped:"), s.said("finished:")
    assert len(fired) == 2 and len(finished) == 2, log
    assert skipped and all("concurrency: forbid" in ln for ln in skipped), log
    assert "held (exit 0)" in finished[0] and "aborted (exit 3)" in finished[1], log
    assert s.said("SIGTERM") and s.lines[-1].endswith("scheduler stopped"), log

    with History.open(tmp_path / "reports") as h:
        events = h.schedule_events("freeze")
        rows = h.rows()
    decisions = [e["decision"] for e in events]
    assert decisions.count("fired") == 2 and decisions.count("finished") == 2
    assert decisions.count("skipped") == len(skipped)
    assert {r.schedule_entry for r in rows} == {"freeze"} and len(rows) == 2
    aborted = next(r for r in rows if r.exit_code == 3)
    assert aborted.status.value == "aborted"
    assert (tmp_path / "reports" / aborted.run_dir / "report.html").is_file()
    ledger = Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger"
    assert not list(ledger.glob("*.json")), "a fault left in the ledger"


@pytest.mark.slow
def test_a_closed_window_skips_and_records(tmp_path):
    hour = datetime.now(UTC).hour
    closed = f"{(hour + 3) % 24:02d}:00-{(hour + 4) % 24:02d}:00"          # opens later today, closed now
    (tmp_path / "quick.yaml").write_text('name: quick\nsteady_state:\n  - probe: {type: command, name: ok, '
                                         'command: "true"}\nmethod:\n  - pause: 100ms\n')
    sched = tmp_path / "schedules.yaml"
    sched.write_text("kind: Schedules\nschedules:\n  office:\n    every: 1s\n    run: quick.yaml\n"
                     f"    only_between: \"{closed}\"\n")
    s = Scheduled(sched)
    try:
        wait_until(lambda: s.said("skipped: window closed"), 30, what="a skip")
        s.proc.send_signal(signal.SIGINT)
        assert s.wait() == 0
    finally:
        s.stop()
    [line, *_] = s.said("skipped: window closed")
    assert f"outside only_between {closed}" in line and not s.said("started")
    with History.open(tmp_path / "reports") as h:
        events = h.schedule_events("office")
        assert h.rows() == []
    assert events and events[0]["decision"] == "skipped" and closed in events[0]["reason"]


def test_fires_missed_while_no_scheduler_ran(tmp_path):
    """missed: skip records the skip; run-once fires the latest once, within starting_deadline only."""
    (tmp_path / "quick.yaml").write_text('name: quick\nsteady_state:\n  - probe: {type: command, name: ok, '
                                         'command: "true"}\nmethod:\n  - pause: 100ms\n')
    sched = tmp_path / "schedules.yaml"
    sched.write_text("""kind: Schedules
schedules:
  hourly-skip: {cron: "0 * * * *", run: quick.yaml}
  hourly-once: {cron: "0 * * * *", run: quick.yaml, missed: run-once, starting_deadline: 2h}
  hourly-late: {cron: "0 * * * *", run: quick.yaml, missed: run-once, starting_deadline: 1s}
""")
    lines: list[str] = []
    scheduler = Scheduler(read_schedules(sched), say=lines.append, state=tmp_path / "state")
    now = datetime.now(UTC)
    last = (now - timedelta(hours=3)).isoformat()
    scheduler.state.mkdir(parents=True)
    scheduler._fires_file().write_text(json.dumps({n: last for n in ("hourly-skip", "hourly-once", "hourly-late")}))
    scheduler.catch_up(now)
    assert [j.entry.name for j in scheduler.jobs] == ["hourly-once"]
    scheduler.jobs.clear()                                   # not run here: the decision is what is tested
    text = "\n".join(lines)
    assert "hourly-skip  skipped: 3 fire(s) missed" in text and "(missed: skip)" in text
    assert "hourly-late  skipped: 3 fire(s) missed" in text and "past starting_deadline" in text
    assert "hourly-once  fired (missed: run-once)" in text
    with History.open(tmp_path / "reports") as h:
        decided = {(e["entry"], e["decision"]) for e in h.schedule_events()}
    assert decided == {("hourly-skip", "skipped"), ("hourly-late", "skipped"), ("hourly-once", "fired")}


def test_retention_prunes_the_entrys_oldest_folders_and_keeps_the_rows(tmp_path):
    (tmp_path / "quick.yaml").write_text('name: quick\nsteady_state:\n  - probe: {type: command, name: ok, '
                                         'command: "true"}\nmethod:\n  - pause: 100ms\n')
    (tmp_path / "bad.yaml").write_text('name: bad\nsteady_state:\n  - probe: {type: command, name: ok, '
                                       'command: "false"}\nmethod:\n  - pause: 100ms\n')
    sched = tmp_path / "schedules.yaml"
    sched.write_text("kind: Schedules\nschedules:\n  nightly:\n    cron: \"0 3 * * *\"\n"
                     "    run: [quick.yaml, bad.yaml, quick.yaml]\n    retention: {keep_last: 1, keep_failed: 1}\n")
    lines: list[str] = []
    code = Scheduler(read_schedules(sched), say=lines.append, state=tmp_path / "state").run_once("nightly")
    assert code == 1, lines                                       # the worst of held, failed, held
    with History.open(tmp_path / "reports") as h:
        rows = h.rows()
    assert len(rows) == 3 and {r.schedule_entry for r in rows} == {"nightly"}
    kept = sorted(p.name for p in (tmp_path / "reports").iterdir() if (p / "run.json").exists())
    newest, failed = rows[0], next(r for r in rows if r.exit_code == 1)
    assert kept == sorted([newest.run_dir, failed.run_dir])        # the oldest held one was pruned
    assert any("retention: pruned 1 run folder" in ln for ln in lines), lines


@pytest.mark.slow
def test_the_scheduler_survives_a_run_that_crashes(tmp_path):
    """A run killed with SIGKILL (what a crash looks like from outside) is logged and recorded as crashed;
    the next fire runs as usual."""
    (tmp_path / "slow.yaml").write_text('name: slow\nsteady_state:\n  - probe: {type: command, name: ok, '
                                        'command: "true"}\nmethod:\n  - pause: 2s\n')
    sched = tmp_path / "schedules.yaml"
    sched.write_text("kind: Schedules\nschedules:\n  often:\n    every: 1s\n    run: slow.yaml\n")
    s = Scheduled(sched)
    try:
        wait_until(lambda: s.said("started slow.yaml"), 30, what="a run")
        pid = int(s.said("started slow.yaml")[0].rsplit("pid ", 1)[1].rstrip(")"))
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: s.said("held (exit 0)"), 60, what="a later run to finish")
        s.proc.send_signal(signal.SIGTERM)
        assert s.wait() == 0
    finally:
        s.stop()
    log = "\n".join(s.lines)
    [crashed] = s.said("crashed")
    assert "finished: crashed (exit -9)" in crashed, log
    with History.open(tmp_path / "reports") as h:
        finished = [e for e in h.schedule_events("often") if e["decision"] == "finished"]
    assert finished[0]["status"] == "crashed" and finished[0]["exit_code"] == -9
    assert any(e["status"] == "held" for e in finished[1:])


@pytest.mark.slow
def test_replace_stops_the_running_run_before_the_next_and_allow_runs_beside_it(tmp_path):
    (tmp_path / "slow.yaml").write_text('name: slow\nsteady_state:\n  - probe: {type: command, name: ok, '
                                        'command: "true"}\nmethod:\n  - pause: 20s\n')
    sched = tmp_path / "schedules.yaml"
    sched.write_text("kind: Schedules\nschedules:\n"
                     "  replaced:\n    every: 5s\n    run: slow.yaml\n    concurrency: replace\n"
                     "  beside:\n    every: 5s\n    run: slow.yaml\n    concurrency: allow\n")
    # every 5 s, not less: a run replaced before its interpreter has started (its signal handlers not yet
    # installed) dies of the SIGTERM and is rightly reported "crashed", which a loaded machine can reach
    s = Scheduled(sched)
    try:
        wait_until(lambda: s.said("replaced  finished:"), 60, what="a replaced run to end")
        wait_until(lambda: len(s.said("beside  started")) >= 2, 30, what="a second run beside the first")
        s.proc.send_signal(signal.SIGTERM)
        assert s.wait() == 0
    finally:
        s.stop()
    log = "\n".join(s.lines)
    first = s.said("replaced  finished:")[0]
    assert "aborted (exit 3)" in first, log                       # stopped: reverted, report written
    replacing = s.lines.index(s.said("replaced  replacing")[0])
    assert replacing < s.lines.index(first) < s.lines.index(s.said("replaced  started")[1]), log
    assert not s.said("beside  skipped") and not s.said("beside  replacing"), log
