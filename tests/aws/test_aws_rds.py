"""rds-reboot and rds-failover, run for real by `chaosrunner run`, against a loopback stub of the RDS API
(``rds_stub.py``: moto's RebootDBInstance changes nothing, so a fault on it would show no effect). The
stub speaks RDS's wire format; boto3 — the test's and chaosrunner's — talks to it over HTTP on 127.0.0.1."""
from __future__ import annotations

import json
import os
import signal

import pytest
from botocore.exceptions import ClientError
from rds_stub import RdsStub
from support import wait_until
from world import REGION, cli, experiment, inventory, start

from chaosrunner.execute.ledger import read_entries

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rds_server():
    stub = RdsStub(reboot_seconds=1.0)
    yield stub
    stub.stop()


@pytest.fixture
def rds(rds_server, tmp_path):
    rds_server.instances.clear()
    rds_server.add("orders-db", app="orders")
    rds_server.add("single-db", multi_az=False)
    inventory(tmp_path, rds_server.url, """\
  orders-db: {aws: {region: eu-west-1, endpoint_url: "@URL", filters: {app: orders}}}
  single-db: {aws: {region: eu-west-1, endpoint_url: "@URL", ids: [single-db]}}
""")
    return rds_server


def _client(stub: RdsStub):
    import boto3

    return boto3.client("rds", endpoint_url=stub.url, region_name=REGION)


def _db(stub: RdsStub) -> dict:
    return _client(stub).describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]


def test_the_stub_answers_in_the_rds_wire_format(rds):
    client = _client(rds)
    db = _db(rds)
    assert (db["DBInstanceStatus"], db["AvailabilityZone"], db["SecondaryAvailabilityZone"], db["MultiAZ"]) == (
        "available", "eu-west-1a", "eu-west-1b", True)
    assert client.reboot_db_instance(DBInstanceIdentifier="orders-db", ForceFailover=True)["DBInstance"][
        "DBInstanceStatus"] == "rebooting"
    with pytest.raises(ClientError) as busy:
        client.reboot_db_instance(DBInstanceIdentifier="orders-db")
    assert busy.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    wait_until(lambda: _db(rds)["DBInstanceStatus"] == "available", timeout=10)
    assert _db(rds)["AvailabilityZone"] == "eu-west-1b"
    with pytest.raises(ClientError) as missing:
        client.describe_db_instances(DBInstanceIdentifier="nope")
    assert missing.value.response["Error"]["Code"] == "DBInstanceNotFound"


@pytest.mark.parametrize("action, during, after_zone, reboots", [
    ("{type: rds-reboot, target: orders-db, duration: 4s}", "rebooting", "eu-west-1a", 1),
    ("{type: rds-failover, target: orders-db, duration: 4s}", "rebooting", "eu-west-1b", 1),
    ("{type: rds-failover, target: orders-db, failback: true, duration: 4s}", "rebooting", "eu-west-1a", 2),
])
def test_a_run_shows_the_reboot_during_and_an_available_instance_after(tmp_path, rds, isolated_state, action, during,
                                                                     after_zone, reboots):
    experiment(tmp_path, action)
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: _db(rds)["DBInstanceStatus"] == during, timeout=60, interval=0.1, what=during)
        assert proc.poll() is None
        if "failover" in action:        # the standby took over: the primary is in the other zone
            wait_until(lambda: _db(rds)["DBInstanceStatus"] == "available", timeout=10)
            assert _db(rds)["AvailabilityZone"] == "eu-west-1b" and proc.poll() is None
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    db = _db(rds)
    assert (db["DBInstanceStatus"], db["AvailabilityZone"]) == ("available", after_zone)
    assert rds.instances["orders-db"].reboots == reboots
    assert read_entries(isolated_state / "ledger") == []


def test_kill_9_mid_failover_then_recover_fails_back(tmp_path, rds, isolated_state):
    experiment(tmp_path, "{type: rds-failover, target: orders-db, failback: true, duration: 5m}")
    proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    try:
        wait_until(lambda: any(e.state == "active" for e in read_entries(isolated_state / "ledger")), timeout=60,
                   interval=0.1, what="the failover ledgered")
        wait_until(lambda: _db(rds)["DBInstanceStatus"] == "available", timeout=10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert _db(rds)["AvailabilityZone"] == "eu-west-1b", "the failover stays until recover"
    r = cli(tmp_path, "recover")
    assert r.returncode == 0, r.stdout + r.stderr
    db = _db(rds)
    assert (db["DBInstanceStatus"], db["AvailabilityZone"]) == ("available", "eu-west-1a")
    assert read_entries(isolated_state / "ledger") == []


def test_kill_9_mid_reboot_then_recover_sees_it_available(tmp_path, rds, isolated_state):
    """A reboot cannot be taken back: recover waits until the instance is available, then strikes it off."""
    rds.reboot_seconds = 3.0
    try:
        experiment(tmp_path, "{type: rds-reboot, target: orders-db, duration: 5m}")
        proc = start(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
        try:
            wait_until(lambda: any(e.state == "active" for e in read_entries(isolated_state / "ledger")),
                       timeout=60, interval=0.1, what="the reboot ledgered")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        r = cli(tmp_path, "recover")
        assert r.returncode == 0, r.stdout + r.stderr
        assert _db(rds)["DBInstanceStatus"] == "available"
        assert read_entries(isolated_state / "ledger") == []
    finally:
        rds.reboot_seconds = 1.0


def test_failover_needs_multi_az_and_plan_names_the_zones(tmp_path, rds):
    experiment(tmp_path, "{type: rds-failover, target: single-db, duration: 1s}")
    r = cli(tmp_path, "plan", "exp.yaml")
    assert r.returncode == 2 and "exp.yaml:6:" in r.stderr and "single-db is not" in r.stderr, r.stderr
    experiment(tmp_path, "{type: rds-failover, target: orders-db, duration: 1s}")
    r = cli(tmp_path, "plan", "exp.yaml", "--json")
    assert r.returncode == 0, r.stderr
    [fault] = json.loads(r.stdout)[0]["method"][0]["faults"]
    assert "orders-db (postgres, available, eu-west-1a, standby in eu-west-1b)" in fault["inject"]
    assert "no failback" in fault["revert"]


def test_the_rds_status_probe_sees_the_reboot(tmp_path, rds):
    exp = experiment(tmp_path, "{type: rds-reboot, target: orders-db, duration: 3s}")
    exp.write_text(exp.read_text().replace('{type: command, name: alive, command: "true"}',
                                           "{type: aws, name: db, target: orders-db, check: rds_status, "
                                           "role: primary}"))
    r = cli(tmp_path, "run", "exp.yaml", "--non-interactive", "--report-dir", "reports")
    assert r.returncode in (0, 1), r.stdout + r.stderr
    [path] = (tmp_path / "reports").glob("*/run.json")
    samples = [s for s in json.loads(path.read_text())["timeline"]["samples"] if s["probe"] == "db"]
    assert samples[0]["ok"] and samples[0]["value"] == {
        "orders-db": {"status": "available", "zone": "eu-west-1a", "role": "primary"}}
    assert any(not s["ok"] and "orders-db rebooting (primary)" in s["error"] for s in samples)
    assert samples[-1]["ok"]
