"""Stop conditions that watch the world outside the run: a file, a "big red button" URL, a PromQL
expression (against a real Prometheus). When one trips, every fault is reverted within a second.

The run itself is the in-memory system (see test_session.py); the conditions talk to real
things: the file system, an HTTP server on loopback, Debian's Prometheus scraping a real app.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support import prometheus_scraping, set_gauge
from test_session import SAMPLING, plan_of

from chaosrunner.execute.ledger import Ledger
from chaosrunner.execute.script import ExperimentScript
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.stops import FileExists, HttpSaysStop, PromQLTrue
from chaosrunner.probes import ProbeContext
from chaosrunner.testing import MemorySystem, StaticProbe, memory_drivers
from chaosrunner.timeline import EventKind as K
from chaosrunner.timeline import Timeline

METHOD = "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 60s}\n" + SAMPLING


def run_with(tmp_path: Path, condition: Any, trip: Any, timeout: float = 30.0) -> tuple[Timeline, MemorySystem]:
    """Run a 60 s fault under ``condition``; ``trip()`` (async) is called once the fault is in force."""
    p = plan_of(tmp_path, METHOD)
    system, tl = MemorySystem(), Timeline()

    async def go() -> None:
        session = FaultSession(tl, Ledger(run_id="stops"), [StaticProbe("db ok", system)], interval=0.01,
                               stop_conditions=[condition], drivers=memory_drivers(system))
        async with session:
            task = asyncio.ensure_future(ExperimentScript(p, ProbeContext(timeline=tl), 1.0).run(session))
            while not system.faults:
                await asyncio.sleep(0.005)
            await trip()
            await asyncio.wait_for(task, timeout)

    asyncio.run(go())
    return tl, system


def revert_delay(tl: Timeline) -> float:
    [abort] = tl.events_of(K.ABORT)
    [rev] = tl.events_of(K.FAULT_REVERTED)
    print(f"revert {1000 * (rev.t - abort.t):.1f} ms after the stop condition tripped")
    return rev.t - abort.t


def test_a_stop_file_appearing_stops_the_run(tmp_path):
    flag = tmp_path / "stop-chaos"

    async def touch() -> None:
        await asyncio.sleep(0.1)
        flag.touch()

    tl, system = run_with(tmp_path, FileExists(str(flag)), touch)
    [abort] = tl.events_of(K.ABORT)
    assert abort.data["reason"] == f"stop file {flag} exists"
    assert revert_delay(tl) < 1.0 and not system.faults


def test_the_big_red_button_stops_the_run_and_an_unreachable_one_does_not(tmp_path):
    pressed = {"now": False}

    async def button(request: web.Request) -> web.Response:
        return web.Response(status=200 if pressed["now"] else 204, text="STOP" if pressed["now"] else "")

    async def press() -> None:
        await asyncio.sleep(0.1)                                   # the button's URL answers nothing yet
        app = web.Application()
        app.router.add_get("/stop", button)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]          # type: ignore[union-attr]
        condition.url = f"http://127.0.0.1:{port}/stop"
        await asyncio.sleep(0.2)                                   # answered 204 meanwhile: no stop
        pressed["now"] = True

    condition = HttpSaysStop(url="http://127.0.0.1:9/not-yet", status=200, contains="STOP")
    tl, system = run_with(tmp_path, condition, press)
    [abort] = tl.events_of(K.ABORT)
    assert str(abort.data["reason"]).endswith("/stop answered 200 with 'STOP'")
    assert revert_delay(tl) < 1.0 and not system.faults
    # before the server existed, the button could not be asked: said once, and the run went on
    [err] = [e for e in tl.events_of(K.ERROR) if e.data.get("where") == "abort_when"]
    assert "cannot be evaluated" in str(err.data["error"]) and err.t < abort.t - 0.15


@pytest.mark.slow
def test_a_promql_expression_turning_true_stops_the_run(tmp_path):
    (tmp_path / "prom").mkdir()
    with prometheus_scraping(tmp_path / "prom") as (app, prom):
        set_gauge(app, 1)
        condition = PromQLTrue(prometheus=prom, expr="max(demo_queue_depth) > 50")

        async def flood() -> None:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(set_gauge, app, 80)            # scraped within ~1 s

        started = time.monotonic()
        tl, system = run_with(tmp_path, condition, flood)
    [abort] = tl.events_of(K.ABORT)
    assert abort.data["reason"] == "PromQL 'max(demo_queue_depth) > 50' is true (80)"
    assert revert_delay(tl) < 1.0 and not system.faults and time.monotonic() - started < 30


@pytest.mark.slow
def test_abort_when_file_stops_a_real_run_through_the_cli(tmp_path, web):
    import subprocess
    import sys

    import psutil
    from support import ROOT, wait_until, write

    flag = tmp_path / "stop-chaos"
    write(tmp_path / "inv.yaml", f"targets:\n  web:\n    url: {web.url}\n    process: {{pidfile: {web.pidfile}}}\n")
    exp = write(tmp_path / "exp.yaml", f"""\
name: red-button
targets: inv.yaml
steady_state:
  - probe: {{type: http, url: "${{web.url}}/health", timeout: 500ms}}
method:
  - action: {{type: process, operation: stop, target: web, duration: 60s}}
abort_when: [{{file: {flag}}}]
sampling: {{interval: 100ms, stable_for: 300ms}}
""")
    run = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(exp), "--report-dir",
                            str(tmp_path / "reports")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    wait_until(lambda: web.state() == psutil.STATUS_STOPPED, timeout=30, what="the fault")
    flag.touch()
    out, err = run.communicate(timeout=60)
    assert run.returncode == 3 and "stop file" in " ".join(err.split()), err[-1500:]
    assert web.state() != psutil.STATUS_STOPPED


@pytest.mark.parametrize("conditions,message", [
    ("[{file: /tmp/x, probe_failing_for: 1s}]", "exactly one of"),
    ("[{promql: 'up == 0'}]", "needs a Prometheus server"),
    ("[{http: {url: 'ftp://x/stop'}}]", "stop condition's URL"),
])
def test_bad_stop_conditions_are_refused_with_their_line(tmp_path, conditions, message):
    from support import run_cli, write

    write(tmp_path / "inv.yaml", "targets:\n  db: {toxiproxy: {api: 'http://127.0.0.1:9', proxy: db}}\n")
    exp = write(tmp_path / "exp.yaml", "name: x\ntargets: inv.yaml\nmethod:\n"
                "  - action: {type: latency, target: db, delay: 1s, duration: 1s}\n"
                f"abort_when: {conditions}\n")
    r = run_cli("validate", str(exp))
    assert r.returncode == 2 and message in r.stderr and f"{exp}:5:" in r.stderr, r.stderr
