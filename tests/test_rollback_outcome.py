"""A rollback that did not undo what the method did is a failed rollback, and fails the run.

A probe step in ``rollback:`` checks the undoing (for example a switchover back to the original
primary); when its sample fails, the rollback is recorded as failed and the ``rollbacks``
verdict fails. Real runs against a real local HTTP service.
"""
from __future__ import annotations

import json

import pytest
from support import free_port, write

from chaosrunner import api
from chaosrunner.analyse.steady import rollback_verdict
from chaosrunner.analyse.verdict import Status
from chaosrunner.timeline import EventKind, Timeline

EXP = """\
name: rollback-check
targets: inv.yaml
steady_state:
  - probe: {{type: http, url: "${{web.url}}/health", timeout: 400ms}}
method:
  - action: {{type: process, operation: stop, target: web, duration: 300ms}}
rollback:
  - probe: {{type: command, name: undone, command: [{check}]}}
sampling: {{interval: 100ms, stable_for: 300ms}}
"""


def _inventory(tmp_path, web):
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n    process: {{pidfile: {web.pidfile}}}\n")


def _run(exp):
    [result] = api.run(exp, options=api.RunOptions(report_dir=exp.parent / "reports", render_report=False,
                                                   handle_signals=False))
    return result


def test_rollback_verdict_from_events():
    tl = Timeline()
    assert rollback_verdict(tl) is None                                  # no rollback steps: nothing to judge
    tl.event(EventKind.ROLLBACK, name="switchover to store-a", ok=True)
    assert rollback_verdict(tl).status is Status.PASSED
    tl.event(EventKind.ROLLBACK, name="restore db", ok=False, error="HTTP 503")
    v = rollback_verdict(tl)
    assert v.status is Status.FAILED and v.measured == "1 of 2 failed" and "restore db: HTTP 503" in v.detail


@pytest.mark.parametrize(("check", "status", "ok"), [('"true"', "held", True), ('"false"', "failed", False)])
def test_a_failing_rollback_probe_fails_the_rollback_and_the_run(tmp_path, web, check, status, ok):
    _inventory(tmp_path, web)
    exp = write(tmp_path / "exp.yaml", EXP.format(check=check))
    result = _run(exp)
    data = json.loads((result.run_dir / "run.json").read_text())
    [rb] = [e for e in data["timeline"]["events"] if e["kind"] == "rollback"]
    assert rb["data"]["ok"] is ok
    verdicts = {v.name: v.status for v in result.verdicts}
    assert verdicts["rollbacks"] is (Status.PASSED if ok else Status.FAILED)
    assert result.status == status


def test_rollback_steps_wait_for_the_method(tmp_path, web):
    """A failed steady state before means nothing was done: no rollback step runs (a switchover
    back, say, would then act on a system the run never touched)."""
    mark = tmp_path / "rolled-back"
    _inventory(tmp_path, web)
    exp = write(tmp_path / "exp.yaml", EXP.format(check=f'"touch", "{mark}"').replace(
        '"${web.url}/health"', f'"http://127.0.0.1:{free_port()}/health"'))   # nothing listens there
    result = _run(exp)
    assert result.status == "failed"
    assert not mark.exists()
    kinds = [e["kind"] for e in json.loads((result.run_dir / "run.json").read_text())["timeline"]["events"]]
    assert "fault_injected" not in kinds and "rollback" not in kinds


def test_rollback_steps_find_the_faults_already_reverted(tmp_path, web):
    """An abort mid-fault: the fault is reverted first, then the rollback steps run, so a step that
    needs the system whole (here: the frozen service answering again) succeeds. The step's 5 s
    lets the resumed service work off the connections queued while it was frozen; run before the
    revert, the step would meet a service frozen for 60 s."""
    _inventory(tmp_path, web)
    exp = write(tmp_path / "exp.yaml", f"""\
name: abort-then-rollback
targets: inv.yaml
steady_state:
  - probe: {{type: http, url: "${{web.url}}/health", timeout: 300ms}}
method:
  - action: {{type: process, operation: stop, target: web, duration: 60s}}
rollback:
  - probe: {{type: http, name: answers again, url: "{web.url}/health", timeout: 5s}}
sampling: {{interval: 100ms, stable_for: 300ms}}
abort_when: [{{probe_failing_for: 1s}}]
""")
    result = _run(exp)
    assert result.status == "aborted"
    events = json.loads((result.run_dir / "run.json").read_text())["timeline"]["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.index("fault_reverted") < kinds.index("rollback")
    [rb] = [e for e in events if e["kind"] == "rollback"]
    assert rb["data"]["ok"] is True, rb
    assert {v.name: v.status for v in result.verdicts}["rollbacks"] is Status.PASSED


def test_steady_state_after_waits_for_the_rollback_steps_to_settle(tmp_path, web):
    """A rollback step can leave the system settling after it answers (a switchover back: the
    supervisor's view of the nodes catches up a moment later). The steady state after is checked
    only once the probes have held for ``stable_for`` after the last rollback step, as after the
    last revert. Here the step takes longer than ``stable_for`` and leaves the service frozen for
    0.8 s as it returns: checked at once, the steady state after would fail."""
    _inventory(tmp_path, web)
    pid = web.pidfile.read_text().strip()
    settle = f'"sh", "-c", "sleep 1.2; kill -STOP {pid}; (sleep 0.8; kill -CONT {pid}) >/dev/null 2>&1 &"'
    exp = write(tmp_path / "exp.yaml", EXP.format(check=settle).replace("stable_for: 300ms", "stable_for: 1s"))
    result = _run(exp)
    timeline = json.loads((result.run_dir / "run.json").read_text())["timeline"]
    [rb] = [e for e in timeline["events"] if e["kind"] == "rollback"]
    [after] = [e for e in timeline["events"] if e["kind"] == "steady_state" and e["data"]["phase"] == "after"]
    assert rb["data"]["ok"] is True
    # the freeze was seen by the continuous sampling, and the check came after it was over
    frozen = [s for s in timeline["samples"] if not s["ok"] and s["start"] >= rb["t"]]
    assert frozen, "no sample saw the service frozen after the rollback step"
    assert after["t"] >= rb["t"] + 1.0, (rb["t"], after["t"])          # stable_for after the step
    assert after["data"]["ok"] is True, after
    assert result.status == "held"
