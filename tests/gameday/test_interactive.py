"""An interactive game day driven through a pseudo-terminal: a manual step confirmed with a note,
one skipped, a note added from a second process with `gameday note`, then `a` aborts it — every
fault reverted, the record showing each of these with its time, exit 3."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pexpect
import pytest
from support import run_dirs

from demo_support import ROOT, cli, commonmark_headings, fresh_demo, role, toxics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DAY = """\
kind: GameDay
name: interactive-drill
scenario: 300ms of latency on region r1's API node while the team watches
roles: {commander: ana, operator: bo}
steady_state:
  - probe: {type: http, name: health, url: /health}
  - probe: {type: role, name: primary, http: {url: "${supervisor.url}/role", field: primary}}
sampling: {interval: 250ms, stable_for: 1s}
phases:
  - name: slow region
    steps:
      - id: slow
        action: {type: latency, target: api-r1, delay: 300ms}
      - manual: Confirm the latency shows on the dashboard
      - manual: Page the database team (skip in drills)
  - name: watch
    steps:
      - wait_until: {probe: health, state: failing, timeout: 10m}
"""


def _in_a_terminal(day: Path, inventory: Path, reports: Path) -> pexpect.spawn:
    """``gameday run`` in a pseudo-terminal of 120×40, as user bo."""
    env = {**os.environ, "TERM": "xterm", "USER": "bo", "COLUMNS": "120", "LINES": "40"}
    return pexpect.spawn(sys.executable, ["-m", "chaosrunner.cli", "gameday", "run", str(day), "--targets",
                                          str(inventory), "--report-dir", str(reports)],
                         cwd=str(ROOT), env=env, encoding="utf-8", timeout=60, dimensions=(40, 120))


def test_interactive_game_day(tmp_path, isolated_state):
    day = tmp_path / "drill.yaml"
    day.write_text(DAY)
    with fresh_demo(tmp_path) as inventory:
        child = _in_a_terminal(day, inventory, tmp_path / "reports")
        try:
            child.expect("MANUAL: Confirm the latency")
            child.send("c")
            child.expect("note")
            child.send("dashboard shows p99 +300ms\r")
            child.expect("MANUAL: Page the database team")
            child.send("s")
            child.expect("wait until health failing")
            noted = cli("gameday", "note", "router still sends traffic to r1", "--author", "observer-2")
            assert noted.returncode == 0, noted.stderr
            time.sleep(1.0)                         # the inbox is read every 200ms
            child.send("a")
            child.expect(pexpect.EOF, timeout=120)
        finally:
            if child.isalive():
                child.terminate(force=True)
        child.close()
        assert child.exitstatus == 3, child.before
        assert role(inventory) == "store-a"
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "aborted" and "key a" in doc["abort_reason"]
    events = doc["timeline"]["events"]
    manual = [e for e in events if e["kind"] == "manual"]
    assert [(e["data"]["answer"], e["data"]["by"]) for e in manual] == [("confirm", "bo"), ("skip", "bo")]
    assert manual[0]["data"]["note"] == "dashboard shows p99 +300ms"
    notes = {n["text"]: n for n in doc["notes"]}
    assert notes["router still sends traffic to r1"]["author"] == "observer-2"
    assert notes["router still sends traffic to r1"]["t"] > manual[1]["t"]
    steps = [s for p in doc["gameday"]["phases"] for s in p["steps"]]
    assert [s["status"] for s in steps[:3]] == ["done", "confirmed", "skipped"]
    assert all(isinstance(s["t"], float) for s in steps)
    injected = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"}
    reverted = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"}
    assert injected and injected == reverted
    assert not list((isolated_state / "ledger").glob("*.json"))
    review = (run_dir / "review.md").read_text()
    assert "dashboard shows p99 +300ms" in review and "observer-2" in review
    headings = commonmark_headings(review)
    assert headings[-3:] == ["What happened", "Why it happened", "Lessons learned"]
    assert "Action items" in headings and "Success criteria" in headings


def test_ctrl_c_at_the_terminal_aborts_reverts_and_still_writes_the_report(tmp_path, isolated_state):
    """Ctrl-C typed in the game day's terminal (the line discipline sends SIGINT to the foreground
    process group, as in the room): the day is aborted, the latency is gone from the proxy itself,
    the record and review are written, exit 3."""
    day = tmp_path / "drill.yaml"
    day.write_text(DAY)
    with fresh_demo(tmp_path) as inventory:
        child = _in_a_terminal(day, inventory, tmp_path / "reports")
        try:
            child.expect("MANUAL: Confirm the latency")
            assert [t["type"] for t in toxics(inventory, "api-r1")] == ["latency"]     # in force now
            child.sendintr()
            child.expect(pexpect.EOF, timeout=120)
        finally:
            if child.isalive():
                child.terminate(force=True)
        child.close()
        assert child.exitstatus == 3, child.before
        assert toxics(inventory, "api-r1") == []
        assert role(inventory) == "store-a"
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "aborted" and ("SIGINT" in doc["abort_reason"] or "Ctrl-C" in doc["abort_reason"]), \
        doc["abort_reason"]
    assert (run_dir / "report.html").exists() and (run_dir / "review.md").exists()
    events = doc["timeline"]["events"]
    injected = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"}
    assert injected and injected == {e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"}
    assert not list((isolated_state / "ledger").glob("*.json"))


def test_sigterm_aborts_reverts_and_still_writes_the_report(tmp_path, isolated_state):
    import signal
    import subprocess

    day = tmp_path / "drill.yaml"
    day.write_text(DAY)
    with fresh_demo(tmp_path) as inventory:
        proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "gameday", "run", str(day),
                                 "--non-interactive", "--targets", str(inventory),
                                 "--report-dir", str(tmp_path / "reports")], cwd=ROOT, text=True,
                                env={**os.environ, "TERM": "dumb"}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:                     # the day is in its long wait, the fault in force
            if "wait until health failing" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
        assert proc.returncode == 3, rest
        assert role(inventory) == "store-a"
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["status"] == "aborted" and "SIGTERM" in doc["abort_reason"]
    assert (run_dir / "report.html").exists() and (run_dir / "review.md").exists()
    assert not list(run_dir.glob("*.jsonl"))          # the spool: read back into run.json, then removed
    assert doc["timeline"]["samples"]
    events = doc["timeline"]["events"]
    injected = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"}
    assert injected and injected == {e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"}
    assert not list((isolated_state / "ledger").glob("*.json"))


def test_a_killed_game_day_leaves_its_faults_to_recover(tmp_path, isolated_state):
    import signal
    import subprocess

    day = tmp_path / "drill.yaml"
    day.write_text(DAY)
    with fresh_demo(tmp_path) as inventory:
        proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "gameday", "run", str(day),
                                 "--non-interactive", "--targets", str(inventory),
                                 "--report-dir", str(tmp_path / "reports")], cwd=ROOT, text=True,
                                env={**os.environ, "TERM": "dumb"}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "wait until health failing" in line:
                break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert list((isolated_state / "ledger").glob("*.json")), "the latency fault is in the ledger"
        listed = cli("recover", "--list")
        assert "latency on api-r1" in listed.stdout, listed.stdout
        recovered = cli("recover")
        assert recovered.returncode == 0 and "reverted" in recovered.stdout, recovered.stdout + recovered.stderr
        assert not list((isolated_state / "ledger").glob("*.json"))
        noted = cli("gameday", "note", "anyone there?")
        assert noted.returncode == 2                     # the killed day is not running any more
