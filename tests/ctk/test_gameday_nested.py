"""A Chaos Toolkit file nested in a game day runs as ``chaosrunner run`` runs it — chaoslib's
``run_experiment``, its verdict and journal — not through a conversion: in a process of its own, its
record rolled up into the day's. A SIGTERM to the day is forwarded to it: chaoslib aborts and runs
its rollbacks. Everything talks to the fixtures' loopback service."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from support import run_dirs, write

from .conftest import FIXTURES

pytestmark = pytest.mark.slow


def _day(tmp: Path, experiment: Path) -> Path:
    return write(tmp / "day.yaml", f"""\
kind: GameDay
name: nested-ctk
scenario: a team's Chaos Toolkit experiment, run in the monthly game day
steady_state:
  - probe: {{type: command, name: always, command: "true"}}
sampling: {{interval: 250ms, stable_for: 500ms}}
phases:
  - name: their experiment
    steps:
      - experiment: {experiment}
""")


def _run_day(env, day: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "gameday", "run", str(day), "--non-interactive",
                             "--report-dir", str(env.tmp / "reports")], cwd=env.tmp, env=env.vars(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _nested_record(day_dir: Path) -> tuple[Path, dict]:
    [run] = [p for p in (day_dir / "experiments").iterdir() if (p / "run.json").is_file()]
    return run, json.loads((run / "run.json").read_text())


@pytest.mark.parametrize("fixture, code, nested_status", [
    ("11-background-activities.yaml", 0, "held"),
    ("12-ref-activities.yaml", 1, "failed"),            # deviates: chaoslib's verdict, rolled up
])
def test_a_nested_ctk_file_runs_by_chaoslib_with_its_verdict(env, fixture, code, nested_status):
    proc = _run_day(env, _day(env.tmp, FIXTURES / fixture))
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == code, output
    [day_dir] = run_dirs(env.tmp / "reports")
    run, nested = _nested_record(day_dir)
    assert (run / "journal.json").is_file()                  # chaoslib's journal: its run, not a conversion
    journal = json.loads((run / "journal.json").read_text())
    assert nested["status"] == nested_status and journal["deviated"] is (nested_status == "failed")
    day = json.loads((day_dir / "run.json").read_text())
    rolled = [v for v in day["verdicts"] if v["name"].startswith(nested["experiment"]["name"] + ": ")]
    assert rolled and {v["name"].split(": ", 1)[1] for v in rolled} == {v["name"] for v in nested["verdicts"]}
    [step] = [s for p in day["gameday"]["phases"] for s in p["steps"]]
    assert step["status"] == ("passed" if code == 0 else "failed") and nested_status in step["detail"]
    assert env.service.state == "up"                          # rollbacks ran (12: the `come up` by ref)


def test_sigterm_to_the_day_is_forwarded_and_chaoslib_rolls_back(env):
    ctk = write(env.tmp / "long.yaml", """\
version: 1.0.0
title: A long outage
description: the service is down for 60 s, unless the run is stopped
configuration:
  base_url: {type: env, key: CTKFIX_URL}
steady-state-hypothesis:
  title: Healthy
  probes:
    - {type: probe, name: health, tolerance: 200, provider: {type: http, url: "${base_url}/health", timeout: 2}}
method:
  - {type: action, name: take it down, provider: {type: python, module: ctkfix.actions, func: set_state,
     arguments: {base_url: "${base_url}", state: down}}}
  - {type: action, name: stay down, provider: {type: python, module: ctkfix.actions, func: wait,
     arguments: {seconds: 60}}}
rollbacks:
  - {type: action, name: bring it back, provider: {type: python, module: ctkfix.actions, func: set_state,
     arguments: {base_url: "${base_url}", state: up}}}
""")
    proc = _run_day(env, _day(env.tmp, ctk))
    deadline = time.monotonic() + 60
    while env.service.state != "down" and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert env.service.state == "down", proc.communicate(timeout=30)[0]
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children                                           # the nested run's own process
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert time.monotonic() - started < 50, output            # not the 60 s wait: stopped
    assert proc.returncode == 3, output
    assert env.service.state == "up"                          # chaoslib ran the rollback
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    [day_dir] = run_dirs(env.tmp / "reports")
    _, nested = _nested_record(day_dir)
    assert nested["status"] == "aborted", nested["status"]
    day = json.loads((day_dir / "run.json").read_text())
    assert day["status"] == "aborted" and "SIGTERM" in (day["abort_reason"] or ""), day["abort_reason"]
