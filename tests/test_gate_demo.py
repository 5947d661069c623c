"""`chaosrunner gate` on the embedded demo: a baseline, a slower failover that fails the gate, a rerun that passes.

The demo's supervisor promotes the standby after ``--failover-after`` of failed health checks: the
baseline runs with 1s, the regressed run on a demo restarted with 6s (the failover takes about 5s
longer), the rerun with 1s again. Each run partitions the store primary, and its rollback switches
back to store-a, so the demo is as it was after each run (checked: no proxy left disabled or with
a toxic). The demo runs on free ports; its inventory is passed with --targets.
"""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaosrunner.demo import start_demo, stop_demo
from demo.helpers import get_json

pytestmark = pytest.mark.slow

CHAOSRUNNER = Path(sys.executable).parent / "chaosrunner"
START_TIMEOUT = 60

FAILOVER = """\
name: gate-failover
hypothesis: The standby takes over within 30 seconds of the primary being cut off
steady_state:
  - probe: {type: http, name: health, url: /health}
  - probe: {type: role, name: primary, http: {url: "${supervisor.url}/role", field: primary}}
method:
  - action: {type: network, target: postgres-primary, operation: partition, duration: 9s}
rollback:
  - action: {type: network, target: postgres-primary, operation: restore}
  - probe: {type: http, name: switch back to store-a, method: POST, timeout: 35s,
           url: "${supervisor.url}/switchover?candidate=store-a&wait=30"}
objectives:
  rto: 30s
  failover: {probe: primary, within: 30s}
sampling: {interval: 250ms, stable_for: 1s}
abort_when: [{probe_failing_for: 1m}]
"""


def gate(experiment: Path, demo, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSRUNNER), "gate", str(experiment), "--targets", str(demo.inventory_path),
                           "--report-dir", str(reports), *args],
                          capture_output=True, text=True, timeout=300, cwd=reports.parent)


def newest_run(reports: Path) -> Path:
    return max((p for p in reports.iterdir() if (p / "gate.json").exists()),
               key=lambda p: (p / "gate.json").stat().st_mtime)


def no_fault_left(demo) -> None:
    proxies = get_json(f"{demo.url('proxy_api')}/proxies")
    assert {n: p["toxics"] for n, p in proxies.items() if not p["enabled"] or p["toxics"]} == {}


def test_a_slower_failover_fails_the_gate_and_the_original_settings_pass_again(tmp_path):
    experiment = tmp_path / "gate-failover.yaml"
    experiment.write_text(FAILOVER)
    reports = tmp_path / "reports"
    demo_dir = tmp_path / "demo"

    demo = start_demo(demo_dir, free_ports=True, failover_after=1.0, timeout=START_TIMEOUT)
    try:
        first = gate(experiment, demo, reports)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "no baseline" in first.stderr
        base_run = newest_run(reports)
        base = json.loads((base_run / "gate.json").read_text())
        assert base["baseline"] is None
        no_fault_left(demo)
    finally:
        stop_demo(demo_dir)

    demo = start_demo(demo_dir, free_ports=True, failover_after=6.0, timeout=START_TIMEOUT)
    try:
        slow = gate(experiment, demo, reports)
        no_fault_left(demo)
    finally:
        stop_demo(demo_dir)
    assert slow.returncode == 1, slow.stderr[-3000:]
    slow_run = newest_run(reports)
    result = json.loads((slow_run / "gate.json").read_text())
    assert result["baseline"] == base["runs"][0]
    [failover] = [f for f in result["figures"] if f["figure"] == "failover"]
    assert failover["regressed"] and failover["now"] > failover["baseline"] + 3, failover
    junit = ET.parse(slow_run / "junit.xml").getroot()
    failures = [f.get("message") for f in junit.iter("failure") if f.get("type") == "regression"]
    assert any(m.startswith("failover ") and "vs baseline" in m and "tolerance +20 %" in m for m in failures), failures
    summary = (slow_run / "summary.md").read_text()
    assert "Gate: baseline vs now" in summary and "| failover |" in summary and "✗ regression" in summary
    assert "**Gate failed:** " in summary and "failover" in summary.split("**Gate failed:** ")[1]

    demo = start_demo(demo_dir, free_ports=True, failover_after=1.0, timeout=START_TIMEOUT)
    try:
        again = gate(experiment, demo, reports)
        no_fault_left(demo)
    finally:
        stop_demo(demo_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads((newest_run(reports) / "gate.json").read_text())
    assert rerun["baseline"] == base["runs"][0]            # the regressed run is never a baseline
    assert not rerun["regressions"], rerun
