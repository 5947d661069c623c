"""The live view: plain timestamped lines on a dumb terminal; the rich panel's contents (phase,
T+, the next phase's deadline, probe bars, expected timings pending/met/missed, last notes)."""
from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from chaosrunner.gameday.read import read_gameday
from chaosrunner.gameday.view import GameDayView
from chaosrunner.timeline import Timeline
from chaosrunner.timeline import EventKind as K, Sample

ROOT = Path(__file__).resolve().parents[2]


def test_plain_lines_and_panel(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    day = read_gameday(ROOT / "gamedays" / "region-failure.yaml")
    buf = io.StringIO()
    view = GameDayView(day, Console(file=buf, width=200), time_scale=0.1)
    assert view.plain
    tl = Timeline()
    tl.subscribe(view)
    with view:
        tl.event(K.NOTE, text="T+0", author="chaosrunner", t0=True, origin=tl.now())
        tl.event(K.PHASE_STARTED, phase="initiate failure", gameday=True, index=1, at=0.0)
        tl.event(K.FAULT_INJECTED, fault_id="f1", target="api-r1", type="network")
        t = tl.now()
        tl.add_sample(Sample("r1 reachable", t + 0.1, t + 0.2, False, error="refused"))
        tl.add_sample(Sample("primary", t + 0.1, t + 0.2, True, value="store-a", role="store-a"))
        tl.event(K.NOTE, text="dashboards red", author="cy")
    lines = buf.getvalue().splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d T[+-]", line) for line in lines), lines
    assert any("phase initiate failure started" in line for line in lines)
    assert any("fault injected: network on api-r1" in line for line in lines)
    assert any("note (cy): dashboards red" in line for line in lines)
    assert view.deadline == 3.0                           # the next phase is due at T+30s ×0.1
    panel = io.StringIO()
    Console(file=panel, width=160).print(view._panel())
    text = panel.getvalue()
    assert "next phase at T+00:03" in text and "dashboards red" in text
    assert re.search(r"detection\s+met \(0\.\ds, ≤ 3s\)", text), text
    assert re.search(r"failover\s+pending", text) and re.search(r"failback\s+pending", text)
