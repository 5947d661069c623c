"""Every ready experiment runs on the embedded demo and ends with the verdict its file predicts.

The demo runs on free ports (its own inventory is passed with --targets); the two failover
experiments each get a demo of the replication mode they are written for.
"""
from __future__ import annotations

import pytest

from chaosrunner import api
from chaosrunner.demo import start_demo, stop_demo
from support import ROOT

pytestmark = pytest.mark.slow

#: experiment → (predicted status, verdicts that must have that outcome)
PREDICTED = {
    "database-failure": ("held", {"failover": "passed", "rto": "passed", "no split brain": "passed"}),
    "memory-pressure": ("held", {"slo p99 (fault)": "passed", "slo p99 (recovery)": "passed"}),
    "cascading-failure": ("held", {"steady state held during faults": "passed"}),
    "db-failover-async": ("failed", {"rpo": "failed", "failover": "passed", "data integrity": "passed"}),
    "api-latency": ("held", {"slo p99 (fault)": "passed"}),
    "region-partition": ("held", {"failover": "passed", "no split brain": "passed"}),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = start_demo(tmp_path_factory.mktemp("demo"), free_ports=True)
    yield d
    stop_demo(d.dir)


@pytest.fixture(scope="module")
def sync_demo(tmp_path_factory):
    d = start_demo(tmp_path_factory.mktemp("syncdemo"), free_ports=True, sync=True)
    yield d
    stop_demo(d.dir)


def run_on(demo, name: str, tmp_path):
    # every experiment starts from a demo whose primary is store-a and whose proxies carry no fault
    stop_demo(demo.dir)
    fresh = start_demo(demo.dir, free_ports=True, sync=demo.sync)
    [result] = api.run(ROOT / "experiments" / f"{name}.yaml", targets=fresh.inventory_path,
                       options=api.RunOptions(report_dir=tmp_path / "reports", handle_signals=False))
    return result


@pytest.mark.parametrize("name", list(PREDICTED))
def test_ready_experiment_verdict(demo, name, tmp_path):
    status, expected = PREDICTED[name]
    result = run_on(demo, name, tmp_path)
    verdicts = {v.name: v.status.value for v in result.verdicts}
    assert result.status == status, verdicts
    for verdict, outcome in expected.items():
        assert verdicts[verdict] == outcome, (verdict, verdicts)
    if name == "db-failover-async":
        assert result.data["measurements"]["integrity"]["lost"] > 0
    assert (result.run_dir / "report.html").exists()


def test_db_failover_sync_loses_nothing(sync_demo, tmp_path):
    result = run_on(sync_demo, "db-failover-sync", tmp_path)
    verdicts = {v.name: v.status.value for v in result.verdicts}
    assert result.status == "held", verdicts
    integrity = result.data["measurements"]["integrity"]
    assert integrity["lost"] == 0 and integrity["rpo"] == 0 and integrity["acknowledged"] > 50
