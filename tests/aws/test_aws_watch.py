"""The `aws` probe and the CloudWatch alarm stop condition, in real `chaosrunner run`s against moto in
server mode on loopback (its CloudWatch keeps an alarm's state as set with SetAlarmState)."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from support import free_port, wait_until
from world import World, cli, experiment, inventory, start, write

from chaosrunner.execute.ledger import read_entries

pytestmark = pytest.mark.slow

TARGETS = """\
  web: {aws: {region: eu-west-1, endpoint_url: "@URL", filters: {app: web}}}
  web-tg: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: [web-tg]}}
  alarms: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: [api-5xx]}}
"""


def _run_json(tmp: Path) -> dict:
    [path] = (tmp / "reports").glob("*/run.json")
    return json.loads(path.read_text())


def _window(record: dict) -> tuple[float, float, float]:
    """When the fault's step started (its inject began), when the inject ended, when its revert had ended."""
    events = record["timeline"]["events"]
    started = next(e["t"] for e in events if e["kind"] == "step_started")
    injected = next(e["t"] for e in events if e["kind"] == "fault_injected")
    reverted = next(e["t"] for e in events if e["kind"] == "fault_reverted")
    return started, injected, reverted


def _samples(record: dict, probe: str) -> list[dict]:
    return [s for s in record["timeline"]["samples"] if s["probe"] == probe]


@pytest.mark.parametrize("action, probe, failing", [
    ("{type: ec2-stop, target: web, duration: 3s}", "{type: aws, name: web up, target: web, check: instance_state}",
     "not running: "),
    ("{type: elb-deregister, target: web-tg, duration: 3s}",
     "{type: aws, name: web up, target: web-tg, check: target_health}", "web-tg: 0 healthy of 0 (need 1)"),
])
def test_an_aws_probe_fails_during_the_fault_and_holds_before_and_after(tmp_path, world, action, probe, failing):
    inventory(tmp_path, world.url, TARGETS)
    exp = experiment(tmp_path, action)
    exp.write_text(exp.read_text().replace('{type: command, name: alive, command: "true"}', probe
                                           + "\n  - probe: {type: aws, name: alarm quiet, target: alarms, "
                                             "check: alarm_state}"))
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    assert r.returncode in (0, 1), r.stdout + r.stderr
    record = _run_json(tmp_path)
    started, injected, reverted = _window(record)
    samples = _samples(record, "web up")
    before = [s for s in samples if s["end"] < started]
    # the fault lasts 3s from its inject; its revert (start, wait until running) takes the time after that
    during = [s for s in samples if s["start"] > injected + 0.5 and s["end"] < injected + 2.5]
    after = [s for s in samples if s["start"] >= reverted]
    assert before and all(s["ok"] for s in before), [s for s in before if not s["ok"]][:2]
    assert during and not any(s["ok"] for s in during) and failing in during[-1]["error"], during[-1:]
    assert after and after[-1]["ok"]
    verdicts = {v["name"]: v["status"] for v in record["verdicts"]}
    assert verdicts["steady state after"] == "passed", verdicts
    quiet = _samples(record, "alarm quiet")
    assert quiet and all(s["ok"] and s["value"] == {"api-5xx": "OK"} for s in quiet)


def test_a_cloudwatch_alarm_in_alarm_stops_the_run_and_every_fault_is_reverted(tmp_path, world, isolated_state):
    inventory(tmp_path, world.url, TARGETS)
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 5m}",
               "abort_when:\n  - cloudwatch_alarm: {target: alarms, alarms: [api-5xx]}\n")
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: set(world.instance_states().values()) == {"stopped"}, timeout=60, interval=0.2,
                   what="instances stopped")
        time.sleep(0.5)
        assert proc.poll() is None, "the alarm is OK: the run goes on"
        world.client("cloudwatch").set_alarm_state(AlarmName=world.alarm, StateValue="ALARM", StateReason="5xx")
        raised = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - raised
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 3, out + err
    assert took < 30, f"the run took {took:.1f}s to stop after the alarm"
    assert _run_json(tmp_path)["abort_reason"] == "CloudWatch alarm api-5xx is ALARM"
    assert set(world.instance_states().values()) == {"running"}
    assert read_entries(isolated_state / "ledger") == []


def test_an_alarm_that_cannot_be_read_does_not_stop_the_run(tmp_path, world: World):
    """A CloudWatch endpoint that refuses connections: the run goes on, and says so once on its timeline."""
    write(tmp_path / "inv.yaml", "environment: test\ntargets:\n" + TARGETS.replace("@URL", world.url)
          + f'  nowhere: {{aws: {{region: eu-west-1, endpoint_url: "http://127.0.0.1:{free_port()}", ids: [x]}}}}\n')
    experiment(tmp_path, "{type: ec2-reboot, target: web, duration: 2s}",
               "abort_when:\n  - cloudwatch_alarm: {target: nowhere, alarms: [api-5xx], timeout: 500ms}\n")
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    assert r.returncode == 0, r.stdout + r.stderr
    record = _run_json(tmp_path)
    errors = [e for e in record["timeline"]["events"] if e["kind"] == "error"]
    assert len(errors) == 1 and "CloudWatch alarms api-5xx cannot be read" in errors[0]["data"]["error"], errors


def test_bad_probe_and_stop_condition_fields_exit_2_with_their_line(tmp_path, world):
    inventory(tmp_path, world.url, TARGETS)
    exp = experiment(tmp_path, "{type: ec2-reboot, target: web, duration: 1s}",
                     "abort_when:\n  - cloudwatch_alarm: {target: alarms, alarms: [api-5xx], state: RED}\n")
    r = cli(tmp_path, "validate", "exp.yaml")
    assert r.returncode == 2 and "exp.yaml:9:" in r.stderr and "'RED' is not allowed here" in r.stderr, r.stderr
    exp.write_text(exp.read_text().split("abort_when")[0].replace(
        '{type: command, name: alive, command: "true"}',
        "{type: aws, target: alarms, check: instance_state, min_healthy: 2}"))
    r = cli(tmp_path, "validate", "exp.yaml")
    assert r.returncode == 2 and "exp.yaml:4:" in r.stderr and "min_healthy: is for check: target_health" in r.stderr, \
        r.stderr


def test_the_alarm_condition_asks_cloudwatch_at_most_once_a_second(world):
    """Checked every sampling interval, it keeps CloudWatch's answer for `every` (1 s) of the run's clock."""
    import asyncio

    from chaosrunner.drivers.aws.model import AwsHandle
    from chaosrunner.drivers.aws.watch import AlarmStop
    from chaosrunner.timeline import Timeline

    class Run:
        timeline = Timeline()

    stop = AlarmStop(AwsHandle(region="eu-west-1", endpoint_url=world.url, ids=["api-5xx"]), ["api-5xx"])
    run = Run()

    async def checks() -> list[str | None]:
        first = await stop.check(run, 100.0)
        world.client("cloudwatch").set_alarm_state(AlarmName=world.alarm, StateValue="ALARM", StateReason="5xx")
        cached = await stop.check(run, 100.5)
        fresh = await stop.check(run, 101.0)
        await stop.close()
        return [first, cached, fresh]

    assert asyncio.run(checks()) == [None, None, "CloudWatch alarm api-5xx is ALARM"]
