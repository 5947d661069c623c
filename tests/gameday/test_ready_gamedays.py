"""The ready game days on a fresh demo, each ending as its file predicts and leaving the demo as
found: database-failover (manual step auto-confirmed, controlled switchover back) and monthly
(three nested ready experiments whose verdicts roll up into one review)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from support import run_dirs

from demo_support import cli, fresh_demo, role

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run_day(tmp_path, name: str, inventory, *extra: str) -> tuple[int, dict, str]:
    proc = cli("gameday", "run", f"gamedays/{name}.yaml", "--non-interactive", "--targets", str(inventory),
               "--report-dir", str(tmp_path / "reports"), *extra, env={"TERM": "dumb"}, timeout=500)
    [run_dir] = run_dirs(tmp_path / "reports")
    return proc.returncode, json.loads((run_dir / "run.json").read_text()), proc.stderr


def test_database_failover(tmp_path, isolated_state):
    with fresh_demo(tmp_path) as inventory:
        code, doc, stderr = run_day(tmp_path, "database-failover", inventory, "--time-scale", "0.2")
        assert code == 0, stderr[-4000:]
        assert role(inventory) == "store-a"
    criteria = {c["name"]: c["status"] for c in doc["gameday"]["criteria"]}
    assert criteria["expected failover"] == criteria["expected switchback"] == "passed", criteria
    steps = [s for p in doc["gameday"]["phases"] for s in p["steps"]]
    assert [s["status"] for s in steps if s["kind"] == "manual"] == ["confirmed"]
    switch = next(s for s in steps if s["name"].startswith("controlled switchover"))
    assert switch["status"] == "ok"
    assert doc["measurements"]["integrity"]["corrupted"] == 0
    assert not list((isolated_state / "ledger").glob("*.json"))


def test_monthly_rolls_up_nested_experiments(tmp_path, isolated_state):
    with fresh_demo(tmp_path) as inventory:
        code, doc, stderr = run_day(tmp_path, "monthly", inventory)
        assert code == 0, stderr[-4000:]
        assert role(inventory) == "store-a"
    names = [v["name"] for v in doc["verdicts"]]
    for exp in ("api-latency", "cascading-failure", "region-partition"):
        assert any(n.startswith(f"{exp}: ") for n in names), names
    [run_dir] = run_dirs(tmp_path / "reports")
    nested = sorted(p.name.split("-", 1)[1] for p in (run_dir / "experiments").iterdir())
    assert [n.rsplit("-", 1)[0] for n in nested] == ["api-latency", "cascading-failure", "region-partition"]
    for p in (run_dir / "experiments").iterdir():
        assert (p / "run.json").exists() and (p / "report.html").exists()
    cases = [c.get("name") for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")]
    assert "healthy at the end" in cases and any(c.startswith("region-partition: ") for c in cases)
    review = (run_dir / "review.md").read_text()
    assert review.count("## What happened") == 1
