"""The process driver against a real service: kill with a restart command, restart, stop/cont."""
from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from chaosrunner import api
from support import SERVICES, free_port, wait_http, write


@pytest.fixture
def restartable(tmp_path):
    """A web service whose inventory knows how to start it again; every copy is killed afterwards."""
    port, pidfile = free_port(), tmp_path / "web.pid"
    cmd = f"{sys.executable} {SERVICES / 'web.py'} {port} {pidfile}"
    os.system(cmd + " &")
    wait_http(f"http://127.0.0.1:{port}/health")
    yield port, pidfile, cmd
    try:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def experiment(tmp_path, port, pidfile, cmd, action: str, extra: str = "") -> object:
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: http://127.0.0.1:{port}\n"
                                 f"    process: {{pidfile: {pidfile}, restart: \"{cmd}\"}}\n")
    return write(tmp_path / "exp.yaml", f"""\
name: web-{action}
targets: inv.yaml
steady_state:
  - probe: {{type: http, url: "${{web.url}}/health", timeout: 500ms}}
method:
  - action: {{type: process, operation: {action}, target: web{extra}}}
  - pause: 1s
objectives: {{rto: 10s}}
sampling: {{interval: 100ms, stable_for: 500ms}}
""")


@pytest.mark.slow
def test_kill_is_reverted_by_the_restart_command(tmp_path, restartable):
    port, pidfile, cmd = restartable
    first = int(pidfile.read_text())
    [result] = api.run(experiment(tmp_path, port, pidfile, cmd, "kill", ", duration: 1s"),
                       options=api.RunOptions(report_dir=tmp_path / "r", render_report=False))
    second = int(pidfile.read_text())
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    assert second != first and psutil.pid_exists(second)              # started again by the revert
    samples = result.data["timeline"]["samples"]
    assert any(not s["ok"] for s in samples) and samples[-1]["ok"]
    assert result.status == "held", [v.to_dict() for v in result.verdicts]


@pytest.mark.slow
def test_restart_operation_kills_and_starts(tmp_path, restartable):
    port, pidfile, cmd = restartable
    first = int(pidfile.read_text())
    [result] = api.run(experiment(tmp_path, port, pidfile, cmd, "restart"),
                       options=api.RunOptions(report_dir=tmp_path / "r", render_report=False))
    deadline = time.monotonic() + 5
    while int(pidfile.read_text()) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(pidfile.read_text()) != first
    assert result.status == "held"


def test_restart_without_command_is_a_plan_error(tmp_path, web):
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    process: {{pidfile: {web.pidfile}}}\n")
    exp = write(tmp_path / "exp.yaml", "name: x\ntargets: inv.yaml\nmethod:\n"
                                       "  - action: {type: process, operation: restart, target: web}\n")
    with pytest.raises(Exception, match="needs process.restart"):
        api.plan(exp)
    assert web.state() != psutil.STATUS_STOPPED and web.proc.poll() is None
