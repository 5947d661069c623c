"""Two real runs on a local service with a latency fault, their reports and the index, in Chromium.

The service under test is an API whose ``/health`` asks its backend (a real HTTP service behind
the embedded fault proxy) and, when the backend is slow, answers 503 with a hostile error
message: ``<script>`` and an ``<img onerror>``. Each run puts 1 s of latency on the backend
path under a little Locust load; its report.html, junit.xml and summary.md are checked, the
reports are loaded in headless Chromium with the network off (no request leaves the file, the
target's markup is shown as text and never runs, the charts have a size), and the index of
both runs shows the experiment's trend over two points.
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

# the browser fixture and DevTools helpers of the browser tests (Chromium, network off)
from support import proxy_in_front
from test_browser import CHART_SIZES, CHROMIUM, _session, chromium, requested  # noqa: F401

from chaosrunner import api
from chaosrunner.proxy.server import start_in_thread
from chaosrunner.report import render_index

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="chromium is not installed")]

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
# the API's budget for its backend's health check: ample for a busy machine under the load, and
# half the fault's latency, so that every check during the fault fails
BACKEND_TIMEOUT = 0.5

EXPERIMENT = """\
name: api-backend-latency
hypothesis: the API is healthy again within 5 seconds of 1 s latency on its backend
targets: inv.yaml
load: {http: {host: "${api.url}", paths: [/, /health], weights: [1, 3]}, users: 2, spawn_rate: 10, rate: 10/s}
steady_state:
  - probe: {type: http, name: api-health, url: "${api.url}/health", timeout: 3s}
method:
  - pause: 1s
  - action: {type: latency, target: backend, delay: 1s, duration: 2s}
  - pause: 1s
objectives: {rto: 5s}
sampling: {interval: 250ms, stable_for: 500ms}
"""


def api_service(backend: str) -> ThreadingHTTPServer:
    """The API: ``/`` relays the backend's answer, ``/health`` fails with a hostile message when it is slow."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            health = self.path.startswith("/health")
            try:
                with urllib.request.urlopen(backend + ("/health" if health else "/"),
                                            timeout=BACKEND_TIMEOUT if health else 5) as resp:
                    status, body = 200, resp.read()
            except (OSError, urllib.error.URLError) as exc:
                status, body = 503, f"backend unavailable ({exc.__class__.__name__}): {PAYLOAD}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass   # clients that time out and hang up are expected here

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="api-service", daemon=True).start()
    return server


@pytest.fixture
def runs(tmp_path, web):
    """Two runs of the experiment; yields the reports folder and both results."""
    with start_in_thread(port=0) as proxy:
        listen = proxy_in_front(proxy.api_url, "backend", web.port)
        service = api_service(f"http://{listen}")
        try:
            url = f"http://127.0.0.1:{service.server_address[1]}"
            with urllib.request.urlopen(url + "/health", timeout=5) as resp:
                assert resp.status == 200
            (tmp_path / "inv.yaml").write_text(f"targets:\n  api: {{url: {url}}}\n"
                                               f"  backend: {{toxiproxy: {{api: {proxy.api_url}, proxy: backend}}}}\n")
            (tmp_path / "exp.yaml").write_text(EXPERIMENT)
            results = []
            for _ in range(2):
                [result] = api.run(tmp_path / "exp.yaml",
                                   options=api.RunOptions(report_dir=tmp_path / "reports", handle_signals=False))
                results.append(result)
            toxics = json.loads(urllib.request.urlopen(proxy.api_url + "/proxies/backend/toxics", timeout=5).read())
        finally:
            service.shutdown()
            service.server_close()
    assert toxics == []                                     # every latency toxic was removed
    yield tmp_path / "reports", results


def requests_since(dt: Any, mark: int) -> list[str]:
    """URLs the page asked for since the ``mark``-th DevTools event."""
    return [e["params"]["request"]["url"] for e in dt.events[mark:] if e["method"] == "Network.requestWillBeSent"]


REPORT_CHECKS = {
    "charts": CHART_SIZES,
    "pwned": "typeof window.__pwned",
    # no element carries the target's markup: no <img>, no inline handler, no script of its own
    "injected": "document.querySelectorAll('img, [onerror]').length + Array.from(document.scripts)"
                ".filter(function (s) { return s.textContent.indexOf('__pwned') >= 0; }).length",
    "text": "document.body.innerText",
}


def test_real_latency_runs_reports_in_the_browser_and_their_trend(chromium, runs):  # noqa: F811
    reports, results = runs
    assert len({r.run_id for r in results}) == 2
    for result in results:
        data = result.data
        assert result.status == "held", (result.status, [(v.name, v.status.value, v.measured)
                                                          for v in result.verdicts])
        samples = [s for s in data["timeline"]["samples"] if s["probe"] == "api-health"]
        failed = [s for s in samples if not s["ok"]]
        # the fault made it fail: each failed sample is the API's 503 with the target's markup (the
        # probe's 3 s timeout leaves ample room for the API's 0.5 s one)
        assert failed and all(PAYLOAD in (s["error"] or "") for s in failed), failed
        [window] = data["measurements"]["windows"]
        assert window["detected"] and window["recovered"] and 0 < window["recovery_time"] < 5, window  # and recovered
        agg = [s for s in data["timeline"]["load_stats"] if s["name"] == "Aggregated" and s["requests"]]
        # the load saw the 503s (mostly /health, so that a user held 1 s by a slow / is rare)
        assert agg and sum(s["failures"] for s in agg) > 0, agg
        for name in ("report.html", "junit.xml", "summary.md"):
            assert (result.run_dir / name).stat().st_size > 0, name
        cases = {c.get("name"): c for c in ET.parse(result.run_dir / "junit.xml").iter("testcase")}
        assert "rto" in cases and cases["rto"].find("failure") is None, list(cases)
        summary = (result.run_dir / "summary.md").read_text()
        assert "api-backend-latency" in summary and "rto" in summary
        assert "<script" not in summary and "<img" not in summary and "&lt;script&gt;" in summary
        html = (result.run_dir / "report.html").read_text()
        assert PAYLOAD not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    index = render_index(reports)
    index_html = index.read_text()
    assert len(re.findall(r'<tr data-experiment="api-backend-latency"', index_html)) == 2
    assert "api-backend-latency: trend over 2 runs" in index_html
    [trend] = re.findall(r'<figure id="exp-\d+">(<svg\b.*?</svg>)', index_html, flags=re.S)
    # matplotlib draws each run's point as a marker clipped to its axes (tick marks are not):
    # two on the RTO axis, two on the p99 axis and two on the resilience score's (no writer here: RPO is
    # "not measured")
    assert "RTO measured (s)" in trend and "p99 in fault window (ms)" in trend and "not measured" in trend
    assert "resilience score (0-100)" in trend
    # (one marker artist per kind of run: its points are the <use> elements of one clipped group)
    groups = re.findall(r'<g clip-path="url\(#[^"]+\)">((?:\s*<use [^>]*/>)+)', trend)
    points = [p for g in groups for p in re.findall(r'<use xlink:href="#m[0-9a-f]+" x="([\d.]+)" y="([\d.]+)"', g)]
    assert len(points) == 6 and len({x for x, _ in points}) == 6, points

    urls = [r.run_dir.joinpath("report.html").resolve().as_uri() for r in results]
    index_url = index.resolve().as_uri()

    async def check(dt: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"reports": []}
        for url in urls:
            mark = len(dt.events)
            await dt.open(url)
            page = {k: await dt.evaluate(js) for k, js in REPORT_CHECKS.items()}
            page["charts"] = json.loads(page["charts"])
            page["requests"] = requests_since(dt, mark)
            page["url"] = url
            out["reports"].append(page)
        mark = len(dt.events)
        await dt.open(index_url)
        out["trends"] = json.loads(await dt.evaluate(CHART_SIZES))
        out["index_requests"] = requests_since(dt, mark)
        out["all_requests"] = requested(dt)
        return out

    out = asyncio.run(_session(chromium, check))
    for page in out["reports"]:
        assert page["requests"] and all(r == page["url"] or r.startswith("data:") for r in page["requests"]), \
            page["requests"]
        assert page["pwned"] == "undefined" and page["injected"] == 0
        assert PAYLOAD in page["text"]                                  # the error shown as text
        charts = {name: (w, h, paths) for name, w, h, paths in page["charts"]}
        assert {"chart-latency", "chart-throughput", "chart-health"} <= set(charts), list(charts)
        for name, (w, h, paths) in charts.items():
            assert w > 600 and h > 80 and paths > 0, (name, w, h, paths)
    assert len(out["trends"]) == 1 and out["trends"][0][1] > 600 and out["trends"][0][2] > 80, out["trends"]
    assert all(r == index_url or r.startswith("data:") for r in out["index_requests"]), out["index_requests"]
    assert all(r in {*urls, index_url} or r.startswith("data:") for r in out["all_requests"]), out["all_requests"]
