"""Every ready experiment runs on the embedded demo and ends with the verdict its file predicts.

They run one after another on ONE demo, as a user runs them — the venv's `chaosrunner` called by
absolute path, with a PATH that holds no venv (a restart command that needed `python` to be
chaosrunner's interpreter once passed here only because it was never checked). Each must leave the demo as it
found it (healthy, store-a the store primary, every proxy enabled and without toxics, traffic in
region r1) — the failover experiments end with a switchover back to store-a. The demo runs on
free ports (its own inventory is passed with --targets). db-failover-sync is written for
`demo up --sync`, so it runs on a second demo, in that mode, with the same check after it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaosrunner.results import read_run_record
from chaosrunner.demo import demo_status, start_demo, stop_demo
from support import ROOT, run_dirs
from demo.helpers import HTTP_NOT_YET, get_json, wait_until

pytestmark = pytest.mark.slow

#: in the order they run: experiment → (predicted status, verdicts that must have that outcome)
PREDICTED = {
    "database-failure": ("held", {"failover": "passed", "rto": "passed", "no split brain": "passed"}),
    "db-failover-async": ("failed", {"rpo": "failed", "failover": "passed", "data integrity": "passed"}),
    "region-partition": ("held", {"failover": "passed", "no split brain": "passed"}),
    "api-latency": ("held", {"slo p99 (fault)": "passed"}),
    "cascading-failure": ("held", {"steady state held during faults": "passed"}),
    "memory-pressure": ("held", {"slo p99 (fault)": "passed", "slo p99 (recovery)": "passed"}),
}


#: the demo's ten processes on a busy machine
START_TIMEOUT = 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = start_demo(tmp_path_factory.mktemp("demo"), free_ports=True, timeout=START_TIMEOUT)
    yield d
    stop_demo(d.dir)


@pytest.fixture(scope="module")
def sync_demo(tmp_path_factory):
    d = start_demo(tmp_path_factory.mktemp("syncdemo"), free_ports=True, sync=True, timeout=START_TIMEOUT)
    yield d
    stop_demo(d.dir)


CHAOSRUNNER = Path(sys.executable).parent / "chaosrunner"         # the venv's console script
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"           # no venv on it: a user who did not activate it


def run_on(demo, name: str, tmp_path):
    """`.venv/bin/chaosrunner run` by absolute path; the result as the run record says it."""
    reports = tmp_path / "reports"
    r = subprocess.run([str(CHAOSRUNNER), "run", str(ROOT / "experiments" / f"{name}.yaml"), "--targets",
                        str(demo.inventory_path), "--report-dir", str(reports), "--non-interactive"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PATH": CLEAN_PATH})
    [run_dir] = run_dirs(reports)
    record = read_run_record(run_dir / "run.json")
    assert r.returncode == record.exit_code, (r.returncode, r.stderr[-2000:])
    return SimpleNamespace(status=record.status, verdicts=record.verdicts, abort_reason=record.abort_reason,
                           run_dir=run_dir, data=json.loads((run_dir / "run.json").read_text()))


def assert_as_found(demo, after: str) -> None:
    """The demo as `demo up` left it: every component healthy, store-a primary, no fault left."""
    def settled() -> bool:
        # right after a run's rollback a health check (0.5 s each in demo_status) or the standby's
        # first read after a switchover back can still be under way: wait, then check the state
        st = demo_status(demo.dir)
        role = get_json(f"{demo.url('supervisor')}/role")
        return st["up"] and all(c["healthy"] for c in st["components"].values()) and \
            role["primary"] == "store-a" and role["nodes"]["store-b"]["role"] == "standby"

    wait_until(settled, 20, interval=0.2, what=f"the demo settled after {after}", ignore=HTTP_NOT_YET)
    st = demo_status(demo.dir)
    assert st["up"] and all(c["healthy"] for c in st["components"].values()), (after, st["components"])
    role = get_json(f"{demo.url('supervisor')}/role")
    assert role["primary"] == "store-a", (after, role["primary"], role["events"][-5:])
    assert role["nodes"]["store-b"]["role"] == "standby", (after, role["nodes"]["store-b"])
    proxies = get_json(f"{demo.url('proxy_api')}/proxies")
    left = {n: p["toxics"] for n, p in proxies.items() if not p["enabled"] or p["toxics"]}
    assert left == {}, (after, json.dumps(left))
    wait_until(lambda: get_json(f"{demo.url('router')}/_router/status")["active"] == "r1", 20,
               what=f"traffic back in region r1 after {after}", ignore=HTTP_NOT_YET)


@pytest.mark.parametrize("name", list(PREDICTED))
def test_ready_experiments_one_after_another(demo, name, tmp_path):
    status, expected = PREDICTED[name]
    result = run_on(demo, name, tmp_path)
    verdicts = {v.name: v.status.value for v in result.verdicts}
    assert result.status == status, (verdicts, result.abort_reason, result.run_dir)
    for verdict, outcome in expected.items():
        assert verdicts[verdict] == outcome, (verdict, verdicts)
    if name == "db-failover-async":
        assert result.data["measurements"]["integrity"]["lost"] > 0
    assert (result.run_dir / "report.html").exists()
    assert_as_found(demo, name)


def test_db_failover_sync_loses_nothing(sync_demo, tmp_path):
    result = run_on(sync_demo, "db-failover-sync", tmp_path)
    verdicts = {v.name: v.status.value for v in result.verdicts}
    assert result.status == "held", (verdicts, result.abort_reason, result.run_dir)
    integrity = result.data["measurements"]["integrity"]
    assert integrity["lost"] == 0 and integrity["rpo"] == 0 and integrity["acknowledged"] > 50
    assert_as_found(sync_demo, "db-failover-sync")
