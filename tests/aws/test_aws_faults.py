"""Every AWS fault, run for real by `chaosrunner run` against moto in server mode on loopback.

For each fault: the change is seen (by this test's own boto3 client) while the run is in its fault
window and is gone once the run has ended; and a `kill -9` of the runner in the middle of the fault
leaves the change in place until `chaosrunner recover` removes it. The moto server is a real HTTP
server on 127.0.0.1 (``conftest.py``); no AWS account is reached. RDS failover and reboot are tested
in ``test_aws_rds.py`` against a loopback stub of the RDS API (moto's reboot changes nothing).
"""
from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import wait_until
from world import REGION, World, cli, experiment, inventory, set_transition, start

from chaosrunner.execute.ledger import read_entries

pytestmark = pytest.mark.slow

TARGETS = """\
  web: {aws: {region: eu-west-1, endpoint_url: "@URL", filters: {app: web}}}
  web-asg: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: [web-asg]}}
  web-tg: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: [web-tg]}}
  app-subnets: {aws: {region: eu-west-1, endpoint_url: "@URL", filters: {tier: app}}}
  fis: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: ["@TEMPLATE"]}}
"""


@dataclass
class Case:
    action: str
    changed: Callable[[World], bool]            # the fault is visible
    restored: Callable[[World], bool]           # nothing of it is left


def _stopped(w: World) -> bool:
    return all(s in ("stopping", "stopped") for s in w.instance_states().values())


def _running_untagged(w: World) -> bool:
    return all(s == "running" for s in w.instance_states().values()) and not any(
        "chaosrunner:fault" in t for t in w.instance_tags().values())


def _acl_state(w: World) -> tuple[str, str]:
    return w.acl_of(w.subnets["eu-west-1a"]), w.acl_of(w.subnets["eu-west-1b"])


def _zone_cut(w: World) -> bool:
    a, b = _acl_state(w)
    acl = w.acls().get(a, {})
    denies = {(e["Egress"], e["RuleAction"]) for e in acl.get("Entries", []) if e["RuleNumber"] == 1}
    return a != b and {(False, "deny"), (True, "deny")} <= denies and \
        any(t["Key"] == "chaosrunner:fault" for t in acl.get("Tags", []))


def _zone_back(w: World) -> bool:
    a, b = _acl_state(w)
    # both subnets on the VPC's default ACL again, and the deny-all one is gone
    return a == b and all(acl["IsDefault"] for acl in w.acls().values())


def _fis_state(w: World) -> str | None:
    found = w.client("fis").list_experiments()["experiments"]
    return found[0]["state"]["status"] if found else None


CASES = {
    "ec2-stop": Case("{type: ec2-stop, target: web, duration: DUR}", _stopped, _running_untagged),
    "asg-suspend": Case("{type: asg-suspend, target: web-asg, processes: [Launch, AZRebalance], duration: DUR}",
                        lambda w: w.suspended() == {"Launch", "AZRebalance"},
                        lambda w: not w.suspended() and not any(k.startswith("chaosrunner:") for k in w.asg_tags())),
    "elb-deregister": Case("{type: elb-deregister, target: web-tg, duration: DUR}",
                           lambda w: not w.registered(),
                           lambda w: w.registered() == set(w.instances)
                           and not any(k.startswith("chaosrunner:") for k in w.tg_tags())),
    "az-outage": Case("{type: az-outage, target: app-subnets, zone: eu-west-1a, duration: DUR}", _zone_cut,
                      _zone_back),
    "fis-experiment": Case("{type: fis-experiment, target: fis, settle: 20s, duration: DUR}",
                           lambda w: _fis_state(w) in ("pending", "initiating", "running"),
                           lambda w: _fis_state(w) in (None, "stopped")),
}


def _template(w: World) -> str:
    """A FIS experiment template. moto moves an experiment one state on (pending, initiating, running;
    stopping, stopped) every second time it is read with GetExperiment, as its state manager is set
    here: it stays running until chaosrunner stops it, as a long experiment on AWS would."""
    set_transition(w.url, "fis::experiment", progression="manual", times=2)
    return str(w.client("fis").create_experiment_template(
        clientToken="tpl", description="stop web instances", roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "none"}],
        targets={"web": {"resourceType": "aws:ec2:instance", "resourceArns": [
            f"arn:aws:ec2:{REGION}:123456789012:instance/{i}" for i in w.instances], "selectionMode": "ALL"}},
        actions={"stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "web"}}},
    )["experimentTemplate"]["id"])


def _setup(tmp_path: Path, world: World, name: str, duration: str) -> Case:
    inventory(tmp_path, world.url, TARGETS.replace("@TEMPLATE", _template(world) if name == "fis-experiment"
                                                   else "EXT-none"))
    case = CASES[name]
    experiment(tmp_path, case.action.replace("DUR", duration), name=f"aws-{name}")
    return case


def _check(case: Case, world: World, what: str) -> Callable[[], bool]:
    return lambda: case.changed(world) if what == "changed" else case.restored(world)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_run_shows_the_fault_during_and_nothing_after(tmp_path, world, isolated_state, name):
    case = _setup(tmp_path, world, name, "4s")
    assert case.restored(world)                     # the estate starts whole
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(_check(case, world, "changed"), timeout=60, interval=0.2, what=f"{name} in force")
        assert proc.poll() is None, "the change must be seen while the run is in its fault window"
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "fault reverted" in out + err, out + err
    assert case.restored(world), f"{name} left something behind"
    assert read_entries(isolated_state / "ledger") == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_kill_9_mid_fault_then_recover_removes_it(tmp_path, world, isolated_state, name):
    case = _setup(tmp_path, world, name, "5m")
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: case.changed(world) and any(e.state == "active" for e in
                                                        read_entries(isolated_state / "ledger")),
                   timeout=60, interval=0.2, what=f"{name} in force and ledgered")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert case.changed(world), "a killed runner reverts nothing: the fault is still there"
    r = cli(tmp_path, "recover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert case.restored(world), f"recover left {name} behind"
    assert read_entries(isolated_state / "ledger") == []


KILL_POINTS = {
    # (fault, the API call after which the runner kills itself with SIGKILL, what it has done by then)
    "ec2-stop": "StopInstances",
    "asg-suspend": "SuspendProcesses",
    "elb-deregister": "DeregisterTargets",
    "az-outage": "ReplaceNetworkAclAssociation",
    "fis-experiment": "StartExperiment",
}


@pytest.mark.parametrize("name", sorted(KILL_POINTS))
def test_kill_9_in_the_middle_of_the_inject_then_recover_finds_it_from_the_marks(tmp_path, world, isolated_state,
                                                                              name, monkeypatch):
    """The runner dies (SIGKILL, from tests/aws/killpoint/sitecustomize.py) right after the API call that
    made the change and before the fault's handle reached the ledger: recover finds what was done from
    the chaosrunner:fault tags it left on the resources."""
    case = _setup(tmp_path, world, name, "5m")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent / "killpoint"))
    monkeypatch.setenv("CHAOSRUNNER_TEST_KILL_AFTER", KILL_POINTS[name])
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    [entry] = read_entries(isolated_state / "ledger")
    assert entry.state == "injecting" and entry.handle is None
    assert case.changed(world)
    monkeypatch.delenv("CHAOSRUNNER_TEST_KILL_AFTER")
    r = cli(tmp_path, "recover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert case.restored(world), f"recover left {name} behind"
    assert read_entries(isolated_state / "ledger") == []


def test_ec2_reboot_runs_and_leaves_the_instances_running(tmp_path, world, isolated_state):
    """EC2 shows no state for a reboot (moto's, like AWS's, instance stays running): the run records the
    reboot and its revert verifies the instances running."""
    inventory(tmp_path, world.url, TARGETS)
    experiment(tmp_path, "{type: ec2-reboot, target: web, duration: 1s}")
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    assert r.returncode == 0, r.stdout + r.stderr
    said = r.stdout + r.stderr
    assert "fault injected ec2-reboot on web" in said and "fault reverted ec2-reboot on web" in said, said
    assert set(world.instance_states().values()) == {"running"}


def test_ec2_terminate_needs_irreversible_and_is_not_reverted(tmp_path, world, isolated_state):
    inventory(tmp_path, world.url, TARGETS)
    exp = experiment(tmp_path, "{type: ec2-terminate, target: web, duration: 1s}")
    r = cli(tmp_path, "validate", "exp.yaml")
    assert r.returncode == 2 and f"{exp.name}:6:" in r.stderr and "irreversible: true" in r.stderr, r.stderr
    assert set(world.instance_states().values()) == {"running"}        # nothing touched
    experiment(tmp_path, "{type: ec2-terminate, target: web, irreversible: true, duration: 1s}")
    r = cli(tmp_path, "plan", "exp.yaml", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    [fault] = json.loads(r.stdout)[0]["method"][0]["faults"]
    assert fault["revert"] == "nothing: terminated instances cannot be brought back (irreversible: true)"
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(world.instance_states().values()) == {"terminated"}
    assert read_entries(isolated_state / "ledger") == []


def test_kill_9_mid_reboot_then_recover_checks_the_instances_running(tmp_path, world, isolated_state):
    """A reboot cannot be taken back: recover verifies the instances running, then strikes the entry off."""
    inventory(tmp_path, world.url, TARGETS)
    experiment(tmp_path, "{type: ec2-reboot, target: web, duration: 5m}")
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: any(e.state == "active" for e in read_entries(isolated_state / "ledger")), timeout=60,
                   interval=0.2, what="the reboot ledgered")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    [entry] = read_entries(isolated_state / "ledger")
    assert entry.handle is not None and sorted(entry.handle.data["instances"]) == world.instances
    r = cli(tmp_path, "recover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert set(world.instance_states().values()) == {"running"}
    assert read_entries(isolated_state / "ledger") == []


def test_a_revert_that_cannot_show_its_effect_fails_and_stays_in_the_ledger(tmp_path, world, isolated_state):
    """An instance terminated by someone else while it was stopped cannot be started again: the run exits 4
    and the fault stays in the ledger for a human (`recover` says the same, `recover --forget` strikes it)."""
    inventory(tmp_path, world.url, TARGETS)
    experiment(tmp_path, "{type: ec2-stop, target: web, duration: 3s}")
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: _stopped(world), timeout=60, interval=0.2, what="instances stopped")
        world.client("ec2").terminate_instances(InstanceIds=world.instances[:1])
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, out + err
    assert f"{world.instances[0]} is terminated" in out + err
    [entry] = read_entries(isolated_state / "ledger")
    assert entry.fault_type == "ec2-stop"
    r = cli(tmp_path, "recover")
    assert r.returncode == 4 and f"{world.instances[0]} is terminated" in r.stdout + r.stderr, r.stdout + r.stderr
    assert len(read_entries(isolated_state / "ledger")) == 1
