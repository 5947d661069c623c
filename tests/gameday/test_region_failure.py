"""The seed's §10.2 game day (gamedays/region-failure.yaml) on a fresh demo, non-interactive at
--time-scale 0.1, run with the venv's chaosrunner called by absolute path and a PATH without the
venv: every phase completes, every expected timing and criterion holds, the clock is compressed
as asked (the figures are printed), the report renders offline in Chromium without a console
error, review.md and junit.xml hold the review, and the demo is left as found."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import run_dirs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from demo_support import CLI, ROOT, commonmark_headings, fresh_demo, role  # noqa: E402
from test_browser import DevTools, _session, chromium, requested  # noqa: E402,F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCALE = 0.1


def test_region_failure_at_a_tenth(tmp_path, isolated_state, chromium):  # noqa: F811 - the fixture
    import subprocess

    with fresh_demo(tmp_path, "--sync", "--failback") as inventory:
        assert role(inventory) == "store-a"
        path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                               if ".venv" not in p and p)
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env.update(PATH=path, TERM="dumb")
        proc = subprocess.run([str(CLI), "gameday", "run", "gamedays/region-failure.yaml", "--non-interactive",
                               "--time-scale", str(SCALE), "--targets", str(inventory),
                               "--report-dir", str(tmp_path / "reports")],
                              capture_output=True, text=True, timeout=800, env=env, cwd=ROOT)
        print(proc.stderr[-6000:])
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert role(inventory) == "store-a"                # left as found
    [run_dir] = run_dirs(tmp_path / "reports")
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["experiment"]["kind"] == "GameDay" and doc["status"] == "held"
    phases = doc["gameday"]["phases"]
    assert [p["name"] for p in phases] == ["initiate failure", "monitor failover", "verify recovery",
                                           "restore primary"]
    for p in phases:
        assert p["ended"] is not None
        for s in p["steps"]:
            assert s["status"] in ("done", "passed", "ok", "confirmed"), (p["name"], s)
    manual = [s for p in phases for s in p["steps"] if s["kind"] == "manual"]
    assert manual and all(s["status"] == "confirmed" and s["detail"].startswith("auto") for s in manual)
    criteria = {c["name"]: c for c in doc["gameday"]["criteria"]}
    for name in ("expected detection", "expected failover", "expected restoration", "expected failback",
                 "RPO < 1 minute", "zero acknowledged writes lost", "no data corruption", "automatic failback"):
        assert criteria[name]["status"] == "passed", criteria[name]
    # every fault reverted, nothing left in the ledger
    events = doc["timeline"]["events"]
    injected = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"}
    reverted = {e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"}
    assert injected and injected == reverted
    assert not list((isolated_state / "ledger").glob("*.json"))

    # the compressed clock: each phase starts at T+0 + at × 0.1, within one sampling interval
    interval = doc["sampling"]["interval"]
    t0 = next(e["t"] for e in events if e["kind"] == "note" and e["data"].get("t0"))
    starts = {e["data"]["phase"]: e["t"] - t0 for e in events if e["kind"] == "phase_started"
              and e["data"].get("gameday")}
    print("\ntime-scale 0.1: phase, scheduled offset, actual offset, error")
    for name, at in (("initiate failure", 0), ("monitor failover", 30), ("verify recovery", 300),
                     ("restore primary", 1800)):
        late = starts[name] - at * SCALE
        print(f"  {name:18s} T+{at * SCALE:7.2f}s  T+{starts[name]:7.2f}s  {late * 1000:+7.1f} ms")
        assert 0 <= late < interval, (name, late)
    # expected timings: measured on samples, bounds scaled (×0.1), shown as scaled
    print("expected timings: measured (bound ×0.1)")
    for name in ("detection", "failover", "restoration", "failback"):
        c = criteria[f"expected {name}"]
        print(f"  {name:12s} {c['measured']:30s} {c['expected']}")
        assert "×0.1" in c["expected"]

    review = (run_dir / "review.md").read_text()
    for heading in ("## Summary", "## Timeline", "## Expected vs measured", "## Success criteria",
                    "## Action items", "## What happened", "## Why it happened", "## Lessons learned"):
        assert f"\n{heading}\n" in review, heading
    assert "T+" in review and "fault injected" in review and "role change: primary store-a → store-b" in review
    assert commonmark_headings(review)[-3:] == ["What happened", "Why it happened", "Lessons learned"]
    cases = [c.get("name") for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")]
    for name in ("expected detection", "expected failover", "expected restoration", "expected failback",
                 "RPO < 1 minute", "automatic failback"):
        assert name in cases, (name, cases)

    url = (run_dir / "report.html").resolve().as_uri()

    async def check(dt: DevTools) -> dict:
        await dt.call("Log.enable")
        await dt.open(url)
        await asyncio.sleep(0.5)
        return {"text": await dt.evaluate("document.body.innerText"), "requests": requested(dt),
                "errors": [e for e in dt.events if e["method"] in ("Runtime.exceptionThrown",)
                           or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
                           or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]}

    out = asyncio.run(_session(chromium, check))
    assert not out["errors"], out["errors"]
    for req in out["requests"]:
        assert req == url or req.startswith("data:"), req
    assert "Game day review" in out["text"] and "expected failover" in out["text"]
