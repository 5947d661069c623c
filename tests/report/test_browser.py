"""report.html and index.html in headless Chromium, with the network off, over the DevTools protocol.

Checks that no request leaves the file, that the charts render with a size, that a ``<script>``
returned by a target does not run, that the index's filters work, and saves a screenshot and a
printed PDF next to the report.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from report_runs import build_run

from chaosrunner.report import render_index, write_run_outputs
from chaosrunner.results import read_run_record, write_run_json

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")]


class DevTools:
    """The few DevTools-protocol calls the test needs, over one page's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        return reply.get("result", {})

    async def wait_for(self, method: str, after: int, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events[after:]:
                if ev["method"] == method:
                    return ev
            await asyncio.sleep(0.05)
        raise TimeoutError(method)

    async def open(self, url: str) -> None:
        mark = len(self.events)
        await self.call("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired", mark)

    async def evaluate(self, expression: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res["result"].get("value")


@pytest.fixture
def chromium(tmp_path):
    profile = tmp_path / "profile"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
            # network off: every lookup fails and every connection goes to a closed port
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>", "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--window-size=1280,900", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
        time.sleep(0.05)
    port = int(port_file.read_text().split()[0])
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def _session(port: int, fn: Any) -> Any:
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 20
        while True:  # the about:blank page may be listed a moment after DevTools answers
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                pages = [t for t in await r.json() if t["type"] == "page"]
            if pages:
                break
            assert time.monotonic() < deadline, "chromium lists no page"
            await asyncio.sleep(0.1)
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            dt = DevTools(ws)
            await dt.call("Network.enable")
            await dt.call("Network.emulateNetworkConditions", offline=True, latency=0,
                          downloadThroughput=-1, uploadThroughput=-1)
            await dt.call("Page.enable")
            await dt.call("Runtime.enable")
            try:
                return await fn(dt)
            finally:
                dt.reader.cancel()


def requested(dt: DevTools) -> list[str]:
    return [e["params"]["request"]["url"] for e in dt.events if e["method"] == "Network.requestWillBeSent"]


CHART_SIZES = """JSON.stringify(Array.from(document.querySelectorAll('figure svg.chart')).map(function (s) {
  var r = s.getBoundingClientRect(); return [s.closest('figure').id, r.width, r.height,
  s.querySelectorAll('path').length]; }))"""


def test_report_renders_offline_with_charts_and_no_script(chromium, tmp_path):
    run_dir = tmp_path / "reports" / "20261126T201500Z-database-failure-3f2a"
    report = write_run_outputs(build_run(xss=True, gameday=True, status="aborted"), run_dir)
    url = report.resolve().as_uri()

    async def check(dt: DevTools) -> dict[str, Any]:
        await dt.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        await dt.open(url)
        out = {"charts": json.loads(await dt.evaluate(CHART_SIZES)),
               "pwned": await dt.evaluate("typeof window.__pwned"),
               "scripts": await dt.evaluate("document.scripts.length"),
               "title": await dt.evaluate("document.title"),
               "payload_text": await dt.evaluate(
                   "document.body.innerText.indexOf('<script>window.__pwned = 1</script>') >= 0")}
        metrics = await dt.call("Page.getLayoutMetrics")
        height = int(min(metrics["cssContentSize"]["height"], 16000))
        await dt.call("Emulation.setDeviceMetricsOverride", width=1280, height=height, deviceScaleFactor=1,
                      mobile=False)
        shot = await dt.call("Page.captureScreenshot", format="png")
        (run_dir / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
        pdf = await dt.call("Page.printToPDF", printBackground=True)
        (run_dir / "report.pdf").write_bytes(base64.b64decode(pdf["data"]))
        out["requests"] = requested(dt)
        return out

    out = asyncio.run(_session(chromium, check))
    assert out["requests"], "the page load itself is recorded"
    for req in out["requests"]:
        assert req == url or req.startswith("data:"), f"a request left the file: {req}"
    assert out["title"].startswith("! database-failure")
    assert [c[0] for c in out["charts"]] == ["chart-latency", "chart-throughput", "chart-health", "chart-writes"]
    for name, width, height, paths in out["charts"]:
        assert width > 600 and height > 80 and paths > 5, (name, width, height)
    assert out["pwned"] == "undefined" and out["scripts"] == 0
    assert out["payload_text"]                                       # shown as text, not run
    png = (run_dir / "screenshot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    assert (run_dir / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_index_filters_in_the_browser(chromium, tmp_path):
    reports = tmp_path / "reports"
    for i, (name, status) in enumerate([("db", "held"), ("db", "failed"), ("latency", "held")]):
        run = build_run(name=name, status=status, started=1_790_000_000.0 + 86400 * 30 * i)
        write_run_json(reports / run.run_id, run)
        write_run_outputs(run, reports / run.run_id)
    url = render_index(reports).resolve().as_uri()

    async def check(dt: DevTools) -> dict[str, Any]:
        await dt.open(url)
        visible = "Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden).length"
        out = {"all": await dt.evaluate(visible),
               "form_shown": await dt.evaluate("!document.getElementById('filters').hidden"),
               "trends": json.loads(await dt.evaluate(CHART_SIZES))}
        await dt.evaluate("var s = document.getElementById('f-exp'); s.value = 'db';"
                          "s.dispatchEvent(new Event('change'))")
        out["db"] = await dt.evaluate(visible)
        await dt.evaluate("var t = document.getElementById('f-status'); t.value = 'failed';"
                          "t.dispatchEvent(new Event('change'))")
        out["db_failed"] = await dt.evaluate(visible)
        out["count"] = await dt.evaluate("document.getElementById('f-count').textContent")
        out["requests"] = requested(dt)
        return out

    out = asyncio.run(_session(chromium, check))
    assert out["all"] == 3 and out["form_shown"] is True            # the CSP-pinned script ran
    assert out["db"] == 2 and out["db_failed"] == 1 and out["count"] == "1 of 3 runs shown"
    assert len(out["trends"]) == 2 and all(w > 600 and h > 80 for _, w, h, _ in out["trends"])
    assert all(r == url or r.startswith("data:") for r in out["requests"]), out["requests"]


REAL_EXPERIMENT = """\
name: web-freeze
hypothesis: the service answers again within 5 seconds of the fault
targets: inv.yaml
steady_state:
  - probe: {{type: http, name: health, url: "{url}/health", timeout: 400ms}}
method:
  - pause: 1s
  - action: {{type: process, operation: stop, target: web, duration: 2s}}
objectives: {{rto: 5s}}
sampling: {{interval: 250ms, stable_for: 1s}}
"""


def test_report_of_a_real_run_in_the_browser(chromium, tmp_path, web):
    """A real run on a local service (a process fault), reported, loaded with the network off."""
    from chaosrunner import api

    inventory = f"targets:\n  web:\n    url: {web.url}\n    process: {{pidfile: {web.pidfile}}}\n"
    (tmp_path / "inv.yaml").write_text(inventory)
    (tmp_path / "exp.yaml").write_text(REAL_EXPERIMENT.format(url=web.url))
    [result] = api.run(tmp_path / "exp.yaml", options=api.RunOptions(report_dir=tmp_path / "reports",
                                                                     render_report=False, handle_signals=False))
    report = write_run_outputs(read_run_record(result.run_dir / "run.json"), result.run_dir)
    url = report.resolve().as_uri()

    async def check(dt: DevTools) -> dict[str, Any]:
        await dt.open(url)
        out = {"charts": json.loads(await dt.evaluate(CHART_SIZES)),
               "text": await dt.evaluate("document.body.innerText")}
        shot = await dt.call("Page.captureScreenshot", format="png")
        (result.run_dir / "screenshot.png").write_bytes(base64.b64decode(shot["data"]))
        out["requests"] = requested(dt)
        return out

    out = asyncio.run(_session(chromium, check))
    assert all(r == url or r.startswith("data:") for r in out["requests"]), out["requests"]
    assert [c[0] for c in out["charts"]] == ["chart-health"] and out["charts"][0][1] > 600
    assert "web-freeze" in out["text"] and "rto" in out["text"] and "Fault windows" in out["text"]
    assert (result.run_dir / "junit.xml").exists() and (result.run_dir / "summary.md").exists()
