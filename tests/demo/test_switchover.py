"""Controlled switchovers under steady traffic are a pause, not an outage (issue 11, item 14).

Writes and reads go through the router at a steady rate while the supervisor moves the store
primary to store-b and back, three times each way (``POST /switchover``, as the ready failover
experiments end). Before the fix, every switchover answered writes with 503 ("not primary" from
the demoted node), and five in a row opened the API nodes' store breaker: 2 s of "circuit open"
for reads and writes alike. Now no request may fail, every acknowledged write must be there
afterwards, and no request may wait longer than the API's hold bound (plus scheduling slack).
The hold itself is checked against a fake store: bounded, and ordinary store errors still fail at once.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time

import pytest
from aiohttp import web

from chaosrunner.demo import start_demo, stop_demo
from chaosrunner.demo.api import SWITCHOVER_HOLD, ApiNode, DependencyError
from chaosrunner.demo.drill import switchover_drill
from chaosrunner.demo.resilience import CircuitState

from .helpers import get_json, http, metric

#: a held request waits at most SWITCHOVER_HOLD for the new primary, then one more store call;
#: a busy shared machine adds scheduling delays on top
PAUSE_BOUND = SWITCHOVER_HOLD + 0.5


@pytest.mark.slow
def test_switchovers_back_and_forth_under_traffic_fail_and_lose_nothing(tmp_path):
    demo = start_demo(tmp_path / "demo", free_ports=True, timeout=60)
    try:
        drill = asyncio.run(switchover_drill(demo.url("router"), demo.url("supervisor"), switchovers=6))
        assert [(s.candidate, s.status) for s in drill.switchovers] == [("store-b", 200), ("store-a", 200)] * 3, \
            [(s.candidate, s.status, s.message) for s in drill.switchovers]
        during = drill.during_switchovers()
        # the traffic really ran through the switchovers, writes and reads alike
        assert {r.kind for r in during} == {"PUT", "GET"}, drill.summary()
        assert len(drill.acked) > 200, drill.summary()
        failed = [(round(r.started - drill.requests[0].started, 3), r.kind, r.status, r.detail)
                  for r in drill.failed]
        assert failed == [], f"{drill.summary()}; first failures: {failed[:10]}"
        assert drill.missing == [], drill.summary()
        assert drill.longest_pause < PAUSE_BOUND, drill.summary()
        slowest = max(drill.requests, key=lambda r: r.latency)
        assert slowest.latency < PAUSE_BOUND, (slowest, drill.summary())
        # the store breakers never opened, and the router never moved traffic away from region r1
        for api in ("api-r1", "api-r2"):
            text = http("GET", f"{demo.url(api)}/metrics")[1].decode()
            assert metric(text, "api_circuit_opened_total", dependency="store") == 0, api
        assert get_json(f"{demo.url('router')}/_router/status")["failovers"] == 0
        role = get_json(f"{demo.url('supervisor')}/role")
        assert role["primary"] == "store-a" and role["term"] == 7, role
    finally:
        stop_demo(demo.dir)


async def _put_through_api(store_answer, runs: int = 1) -> tuple[ApiNode, list[tuple[float, object]]]:
    """PUT ``runs`` times through an API node's store client to a fake store answering ``store_answer()``."""
    async def put(request: web.Request) -> web.Response:
        status, body = store_answer()
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.add_routes([web.put("/kv/{key}", put)])
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    node = ApiNode(argparse.Namespace(name="api-t", region="t", store=f"http://127.0.0.1:{port}",
                                      external="http://127.0.0.1:9", store_timeout=1.0, external_timeout=0.5,
                                      open_for=2.0, capacity=200, memory_budget_mb=512))
    await node.start()
    results: list[tuple[float, object]] = []
    try:
        for _ in range(runs):
            started = time.monotonic()
            try:
                outcome: object = await node.call("store", "PUT", f"{node.store_url}/kv/k", node.store_timeout,
                                                  data=b"v", ok_statuses=(200,))
            except DependencyError as exc:
                outcome = exc
            results.append((time.monotonic() - started, outcome))
    finally:
        await node.stop()
        await runner.cleanup()
    return node, results


DRAINING = (503, {"error": "switchover in progress: writes paused", "switchover": True, "node": "store-a"})
WRITTEN = (200, {"seq": 1, "node": "store-b"})


def test_a_write_refused_for_a_switchover_is_held_until_the_new_primary_takes_it():
    until = time.monotonic() + 0.3
    node, [(took, outcome)] = asyncio.run(_put_through_api(lambda: DRAINING if time.monotonic() < until else WRITTEN))
    assert outcome == (200, json.dumps(WRITTEN[1]).encode())
    assert 0.25 < took < 1.0, took
    store = node.breakers["store"]
    assert store.state is CircuitState.CLOSED and store.failures == 0
    assert (node.switchover.held_total, node.switchover.expired_total) == (1, 0)


def test_a_switchover_that_never_ends_fails_the_held_write_after_the_bound():
    node, [(took, outcome)] = asyncio.run(_put_through_api(lambda: DRAINING))
    assert isinstance(outcome, DependencyError) and "still switching over" in str(outcome)
    assert SWITCHOVER_HOLD - 0.1 < took < SWITCHOVER_HOLD + 0.5, took
    assert node.breakers["store"].failures == 1 and node.switchover.expired_total == 1


def test_a_store_refusing_writes_outside_a_switchover_fails_at_once():
    """A fenced primary, or a standby with no switchover under way: a store failure, fast, as before."""
    for answer in ((503, {"error": "not primary", "node": "store-a", "role": "standby"}),
                   (503, {"error": "fenced: waiting for the supervisor", "node": "store-a", "role": "primary"})):
        node, results = asyncio.run(_put_through_api(lambda answer=answer: answer, runs=5))
        assert all(isinstance(o, DependencyError) and took < 0.5 for took, o in results), results
        assert node.breakers["store"].state is CircuitState.OPEN and node.switchover.held_total == 0
