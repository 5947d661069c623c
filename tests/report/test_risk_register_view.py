"""The risk register's coverage on real runs: `chaosrunner risks`, the index's heat map in headless
Chromium (offline, no console error, a layout that screenshots the same twice), and the resilience
score's trend in the index.

Two ready experiments run for real on one embedded demo (free ports): database-failure (INFRA-001)
and region-partition (INFRA-002, INFRA-003), each about half a minute.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from test_browser import DevTools, _session, chromium, requested  # noqa: F401 - chromium is a fixture

from chaosrunner.analyse.score import score_run
from chaosrunner.demo import start_demo, stop_demo
from chaosrunner.report import render_index
from chaosrunner.results import read_run_record
from support import ROOT, run_dirs

pytestmark = pytest.mark.slow
REGISTER = ROOT / "risks.yaml"
RUN = ("database-failure", "region-partition")


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    """A reports folder holding one real run of each experiment of RUN, all held."""
    base = tmp_path_factory.mktemp("risks-demo")
    demo = start_demo(base / "demo", free_ports=True, timeout=60)
    reports = base / "reports"
    try:
        for name in RUN:
            r = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "run",
                                str(ROOT / "experiments" / f"{name}.yaml"), "--targets", str(demo.inventory_path),
                                "--report-dir", str(reports),
                                "--non-interactive"], cwd=base, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, (name, r.stdout[-2000:], r.stderr[-2000:])
    finally:
        stop_demo(demo.dir)
    return reports


def test_risks_prints_the_coverage_of_real_runs(real_reports):
    r = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "risks", "--register", str(REGISTER),
                        "--reports", str(real_reports)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    blocks = {b.split()[0]: b for b in r.stdout.split("\n\n")[1:] if b.strip()}
    runs = {read_run_record(d).experiment.name: d.name for d in run_dirs(real_reports)}
    db = blocks["INFRA-001"]
    assert "HELD: verified and held, 0.0 days since verified" in db, db
    assert f"- database-failure: last run {runs['database-failure']} held" in db
    assert "- db-failover-sync: never run" in db and "- database-failover (game day): never run" in db
    for risk in ("INFRA-002", "INFRA-003"):
        assert "HELD: verified and held" in blocks[risk]
        assert f"- region-partition: last run {runs['region-partition']} held" in blocks[risk]
        assert "- region-failure (game day): never run" in blocks[risk]
    assert "NEVER: never verified — no covering experiment has run" in blocks["APP-001"]
    assert "severity Critical (system-wide outage; recovery > 1 hour" in db
    tail = r.stdout.rsplit("\n\n", 1)[-1]
    assert "Never verified: APP-001, APP-002, APP-003, SEC-001, SEC-002" in tail
    assert "Uncovered (no experiment declares them; information, not a failure): APP-003, SEC-001, SEC-002" in tail
    # the run records carry the risks their files declare
    assert {read_run_record(d).experiment.name: read_run_record(d).experiment.risks for d in run_dirs(real_reports)} \
        == {"database-failure": ["INFRA-001"], "region-partition": ["INFRA-002", "INFRA-003"]}
    # --json says the same
    r = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "risks", "--register", str(REGISTER),
                        "--reports", str(real_reports), "--json"], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    doc = {x["id"]: x for x in json.loads(r.stdout)["risks"]}
    assert doc["INFRA-001"]["state"] == "held" and doc["SEC-002"]["uncovered"] is True
    assert doc["INFRA-002"]["covered_by"][-1]["last_run"]["run_id"] == runs["region-partition"]


HEATMAP = """JSON.stringify((function () {
  var rows = Array.from(document.querySelectorAll('#heatmap tbody tr'));
  return rows.map(function (tr) { return {severity: tr.dataset.severity,
    cells: Array.from(tr.querySelectorAll('td')).map(function (td) { var r = td.getBoundingClientRect();
      return {probability: td.dataset.probability, box: [r.x, r.y, r.width, r.height],
        risks: Array.from(td.querySelectorAll('a.risk')).map(function (a) { var b = a.getBoundingClientRect();
          return {id: a.textContent.trim().split(' ').pop(), state: a.classList[1], box: [b.x, b.y, b.width, b.height],
                  bg: getComputedStyle(a).backgroundColor}; })}; })}; });
})())"""

CONSOLE_PROBLEMS = ("Runtime.exceptionThrown",)


def _problems(dt: DevTools) -> list[Any]:
    out = []
    for ev in dt.events:
        if ev["method"] in CONSOLE_PROBLEMS:
            out.append(ev)
        elif ev["method"] == "Runtime.consoleAPICalled" and ev["params"]["type"] in ("error", "warning", "assert"):
            out.append(ev)
        elif ev["method"] == "Log.entryAdded" and ev["params"]["entry"]["level"] in ("error", "warning"):
            out.append(ev)
    return out


def test_the_index_heat_map_in_chromium(chromium, real_reports, tmp_path):  # noqa: F811 - the fixture
    now = datetime(2030, 1, 1, tzinfo=UTC)          # fixed: the page is the same whenever it is rendered
    url = render_index(real_reports, REGISTER, now=now).resolve().as_uri()
    shots: list[bytes] = []

    async def check(dt: DevTools) -> dict[str, Any]:
        await dt.call("Log.enable")
        await dt.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        out: dict[str, Any] = {}
        for attempt in range(2):
            if attempt:                              # written again: the heat map must look the same
                render_index(real_reports, REGISTER, now=now)
            await dt.open(url)
            out["heat"] = json.loads(await dt.evaluate(HEATMAP))
            box = json.loads(await dt.evaluate(
                "JSON.stringify((function () { var r = document.getElementById('heatmap').getBoundingClientRect();"
                " return [r.x, r.y + window.scrollY, r.width, r.height]; })())"))
            shot = await dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                 clip={"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1})
            shots.append(base64.b64decode(shot["data"]))
        out["legend"] = await dt.evaluate("document.getElementById('heatmap-legend').innerText")
        out["text"] = await dt.evaluate("document.body.innerText")
        out["problems"] = _problems(dt)
        out["requests"] = requested(dt)
        return out

    out = asyncio.run(_session(chromium, check))
    (real_reports / "heatmap.png").write_bytes(shots[0])
    assert all(r == url or r.startswith("data:") for r in out["requests"]), out["requests"]
    assert out["problems"] == [], out["problems"]
    assert shots[0][:8] == b"\x89PNG\r\n\x1a\n" and shots[0] == shots[1]      # screenshot-comparable
    heat = out["heat"]
    # seed §2: four severities (worst on top) × five probabilities (very low on the left)
    assert [r["severity"] for r in heat] == ["critical", "high", "medium", "low"]
    assert [c["probability"] for c in heat[0]["cells"]] == ["very_low", "low", "medium", "high", "very_high"]
    xs = [[c["box"][0] for c in r["cells"]] for r in heat]
    widths = [c["box"][2] for r in heat for c in r["cells"]]
    assert all(x == xs[0] for x in xs) and max(widths) - min(widths) < 1.0          # a regular grid
    for r in heat:
        ys = {round(c["box"][1], 1) for c in r["cells"]}
        assert len(ys) == 1
    for r in heat:
        for c in r["cells"]:
            x, y, w, h = c["box"]
            for chip in c["risks"]:
                cx, cy, cw, ch = chip["box"]
                assert x <= cx and cx + cw <= x + w + 0.5 and y <= cy and cy + ch <= y + h + 0.5, (chip, c)
    cell = {(r["severity"], c["probability"]): {k["id"]: k for k in c["risks"]} for r in heat for c in r["cells"]}
    assert set(cell[("critical", "low")]) == {"INFRA-001", "APP-003"}
    assert set(cell[("critical", "very_low")]) == {"INFRA-003", "SEC-001"}
    assert set(cell[("high", "medium")]) == {"INFRA-002", "APP-001", "APP-002", "SEC-002"}
    assert sum(len(v) for v in cell.values()) == 8
    # verified on real runs, but "now" is 2030: older than their review periods (stale); the rest never
    states = {k: v["state"] for c in cell.values() for k, v in c.items()}
    assert states == {"INFRA-001": "stale", "INFRA-002": "stale", "INFRA-003": "stale", "APP-001": "never",
                      "APP-002": "never", "APP-003": "never", "SEC-001": "never", "SEC-002": "never"}
    stale, never = cell[("critical", "low")]["INFRA-001"]["bg"], cell[("critical", "low")]["APP-003"]["bg"]
    assert stale != never
    assert "verified and held" in out["legend"] and "never verified" in out["legend"]
    assert "Risk score (seed §15.2)" in out["text"] and "Σ wᵢ·rᵢ / Σ wᵢ" in out["text"]
    assert re.search(r"availability\s+[01]\.\d\s+\d+\.\d\d% of", out["text"]), out["text"]
    assert "Uncovered — no ready experiment or game day declares them" in out["text"]

    # rendered at the time of the runs, they are verified and held
    html = render_index(real_reports, REGISTER).read_text()
    assert html.count('class="risk held"') >= 3 and "INFRA-001" in html


def test_the_score_trend_appears_in_the_index(real_reports):
    html = render_index(real_reports, REGISTER).read_text()
    scores = {}
    for d in run_dirs(real_reports):
        record = read_run_record(d)
        scores[record.experiment.name] = score_run(record).value
    for name, value in scores.items():
        assert 50.0 <= value <= 100.0                      # held runs score above half
        assert f"{name}: 1 runs, oldest on the left; resilience score of the newest: {value:.1f} / 100." in html
        assert f'<td class="num">{value:.1f}</td>' in html
    assert html.count("resilience score (0-100)") == len(RUN)          # the trend's panel, per experiment
    # the trend's score panel has its point (a marker path inside the fourth axes of each figure)
    for i, _ in enumerate(sorted(scores)):
        figure = html[html.index(f'<figure id="exp-{i}">'):]
        figure = figure[:figure.index("</figure>")]
        assert figure.count('id="axes_') == 4
