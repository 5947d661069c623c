"""The process driver against a real service: kill with a restart command, restart, stop/cont."""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

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


def _kill_with(tmp_path, web, restart: str, extra: str = "") -> object:
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n"
                                 f"    process: {{pidfile: {web.pidfile}, restart: {restart}{extra}}}\n")
    return write(tmp_path / "exp.yaml", """\
name: web-kill
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 500ms}
method:
  - action: {type: process, operation: kill, target: web, duration: 1s}
sampling: {interval: 100ms, stable_for: 300ms}
""")


@pytest.mark.slow
@pytest.mark.parametrize("restart,why", [('"/nonexistent"', "exited with 127"), ("[/bin/false]", "exited with 1"),
                                         ("[/bin/true]", "did not come back within 2s")])
def test_a_restart_that_does_not_bring_the_process_back_is_a_revert_failure(tmp_path, web, restart, why):
    """The kill's revert must show the process running again; else exit 4 and the entry stays, until a
    human fixes it and says so with `recover --forget` (listed by `recover --list`, recorded)."""
    from support import run_cli

    exp = _kill_with(tmp_path, web, restart, ", restart_timeout: 2s")
    r = run_cli("run", str(exp), "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 4 and why in " ".join((r.stderr + r.stdout).split()), (r.returncode, r.stderr[-1500:])
    assert web.proc.poll() is not None                                  # still dead: nothing claimed otherwise
    [entry] = [p.stem for p in (Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger").glob("*.json")]
    listed = run_cli("recover", "--list")
    assert listed.returncode == 0 and entry in listed.stdout and "dead" in listed.stdout, listed.stdout
    again = run_cli("recover")
    assert again.returncode == 4 and f"recover --forget {entry}" in " ".join(again.stdout.split()), again.stdout
    refused = run_cli("run", str(exp), "--report-dir", str(tmp_path / "reports2"))
    assert refused.returncode == 4 and "chaosrunner recover" in refused.stderr
    no_tty = run_cli("recover", "--forget", entry)                      # no terminal to confirm in
    assert no_tty.returncode == 2 and "--yes" in no_tty.stderr
    done = run_cli("recover", "--forget", entry, "--yes", "--reason", "restarted web by hand")
    assert done.returncode == 0 and "forgotten" in done.stdout, done.stdout + done.stderr
    log = Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "forgotten.jsonl"
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["id"] == entry and record["reason"] == "restarted web by hand" and record["fault_type"] == "process"
    assert run_cli("recover").stdout.startswith("nothing to recover")


@pytest.mark.slow
def test_a_kill_without_restart_command_is_reverted_only_if_the_process_comes_back(tmp_path, web):
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n"
                                 f"    process: {{pidfile: {web.pidfile}, restart_timeout: 1s}}\n")
    exp = _kill_with(tmp_path, web, "x")
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n"
                                 f"    process: {{pidfile: {web.pidfile}, restart_timeout: 1s}}\n")
    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                                                   handle_signals=False))
    assert result.status == "revert_failed" and result.exit_code == 4
    assert "did not come back within 1s" in result.data["revert_failures"][0]


def test_match_never_finds_chaosrunner_or_what_runs_it(tmp_path):
    """``match:`` is a substring of a command line, and the command lines that run chaosrunner name
    the experiment and often the pattern too: a shell or ``timeout`` around it, and chaosrunner
    called by absolute path (``/x/.venv/bin/chaosrunner``). Here a shell starts the real target and
    then the finder, all three naming the same token; the shell has the lowest pid, so a search in
    pid order that did not skip its own ancestors would find it first."""
    token = f"chaos-target-{os.getpid()}-{time.time_ns()}"
    out = tmp_path / "found"
    finder = ("import sys; from chaosrunner.drivers.targets import find_process; "
              "from chaosrunner.model.targets import ProcessHandle; "
              "print(find_process(ProcessHandle(match=sys.argv[1]), 't').pid)")
    nap = "import time; time.sleep(30)"
    py = shlex.quote(sys.executable)
    script = (f"{py} -c {shlex.quote(nap)} {token} & echo $! > {tmp_path / 'target'}; "
              f"{py} -c {shlex.quote(finder)} {token} > {out}; status=$?; kill $!; wait; exit $status")
    shell = psutil.Popen(["/bin/sh", "-c", script])
    assert shell.wait(30) == 0
    target = int((tmp_path / "target").read_text())
    assert int(out.read_text()) == target != shell.pid
    assert not psutil.pid_exists(target)                      # the shell waited for it: nothing left


def test_match_never_finds_chaosrunner_called_by_absolute_path(tmp_path):
    """A process whose command line is ``PYTHON /x/.venv/bin/chaosrunner run ... TOKEN`` is
    chaosrunner itself (the console script by absolute path), never a target."""
    token = f"chaos-self-{os.getpid()}-{time.time_ns()}"
    fake = tmp_path / "bin" / "chaosrunner"
    fake.parent.mkdir()
    fake.write_text("import time; time.sleep(30)\n")
    me = psutil.Popen([sys.executable, str(fake), "run", f"{token}.yaml"])
    try:
        wait = time.monotonic() + 10
        while token not in " ".join(me.cmdline()) and time.monotonic() < wait:
            time.sleep(0.05)
        from chaosrunner.drivers.targets import find_process
        from chaosrunner.errors import DriverError
        from chaosrunner.model.targets import ProcessHandle
        with pytest.raises(DriverError, match="no running process matches"):
            find_process(ProcessHandle(match=token), "t")
    finally:
        me.kill()
        me.wait()
