"""The demo system brought up once for the module: inventory, breakers, routing, memory, lifecycle.

Faults go through the proxy's Toxiproxy API, as chaosrunner's drivers send them. The last tests
(kill -9, stale pid files, down) change the demo and run last.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from support import alive

from chaosrunner.demo import demo_status, start_demo, stop_demo
from chaosrunner.model.targets import Inventory

from .helpers import HTTP_NOT_YET, demo_processes, get_json, http, listening, metric, wait_until

pytestmark = pytest.mark.slow

SEED_TARGETS = {"postgres-primary", "database", "api-server", "external-service"}
DEMO_TARGETS = {"api", "store-primary", "store-standby", "api-r1", "api-r2", "region-1", "region-2", "router"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # ten Python processes start: on a busy machine that can take well over the 20 s default
    d = start_demo(tmp_path_factory.mktemp("demo") / "demo", free_ports=True, timeout=60)
    yield d
    stop_demo(d.dir)


def _as_started(st: dict) -> bool:
    return st["up"] and all(c["healthy"] for c in st["components"].values()) and \
        st["primary"] == "store-a" and st["active_region"] == "r1"


def test_up_is_healthy(demo):
    # how fast it comes up is a figure benchmarks/demo_bench.py prints, not a test's bound; each
    # component's /health has 0.5 s in demo_status, which a busy machine can miss once
    wait_until(lambda: _as_started(demo_status(demo.dir)), 20, interval=0.2, what="every component healthy")
    st = demo_status(demo.dir)
    assert st["up"] and all(c["healthy"] for c in st["components"].values()), st
    assert st["primary"] == "store-a" and st["active_region"] == "r1"
    assert http("GET", f"{demo.url('router')}/health")[0] == 200


def test_inventory_names_every_target_with_working_handles(demo):
    import yaml

    raw = yaml.safe_load(demo.inventory_path.read_text())
    inventory = Inventory.model_validate(raw)
    assert inventory.environment == "demo"
    assert SEED_TARGETS | DEMO_TARGETS <= set(inventory.targets)
    assert inventory.members("region-1") == ["api-r1", "store-primary"]
    assert inventory.members("api-server") == ["api-r1", "api-r2"]
    proxies = get_json(f"{demo.url('proxy_api')}/proxies")
    for name, target in inventory.targets.items():
        if target.toxiproxy:
            assert target.toxiproxy.api == demo.url("proxy_api")
            assert target.toxiproxy.proxy in proxies, name
        if target.process:
            pid = int(open(target.process.pidfile).read())
            assert pid > 0 and target.process.restart, name
    assert http("GET", f"{inventory.base_url}/health")[0] == 200


def test_configs_round_trip_and_metrics(demo):
    router = demo.url("router")
    status, body, headers = http("PUT", f"{router}/configs/listener-1", b"port: 443")
    assert status == 200 and json.loads(body)["node"] == "store-a" and headers["X-Routed-To"] == "r1"
    assert http("GET", f"{router}/configs/listener-1")[1] == b"port: 443"
    assert http("GET", f"{router}/configs/nope")[0] == 404
    assert http("DELETE", f"{router}/configs/listener-1")[0] == 200
    assert http("GET", f"{router}/configs/listener-1")[0] == 404
    text = http("GET", f"{router}/metrics")[1].decode()
    assert "# TYPE api_request_duration_seconds histogram" in text
    assert metric(text, "api_circuit_state", dependency="store") == 0
    assert 'api_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/configs/{key}"}' in text


def test_breaker_opens_when_external_service_is_faulted_and_closes_after(demo):
    api = demo.url("api_r1")                                   # API node r1 through its proxy
    toxic = {"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 3000}}
    status, body, _ = http("POST", f"{demo.url('proxy_api')}/proxies/external_service/toxics", toxic)
    assert status == 200, body
    try:
        for _ in range(5):                                     # each waits out the 0.5 s timeout
            reply = json.loads(http("GET", f"{api}/fleet/status")[1])
            assert reply["status"] == "degraded"
        status, body, headers = http("GET", f"{api}/fleet/status")
        answer = json.loads(body)
        assert status == 200 and answer["reason"] == "circuit open" and headers["X-Degraded"] == "true"
        # open breaker: no waiting out the 0.5 s timeout. Measured by the node itself (the client's
        # clock would count a busy machine's scheduling too): a call that timed out took >= 0.5 s
        assert answer["answered_in"] < 0.5, answer
        text = http("GET", f"{api}/metrics")[1].decode()
        assert metric(text, "api_circuit_state", dependency="external") == 1
        assert metric(text, "api_circuit_opened_total", dependency="external") >= 1
        assert json.loads(http("GET", f"{api}/health")[1])["circuits"]["external"] == "open"
    finally:
        http("DELETE", f"{demo.url('proxy_api')}/proxies/external_service/toxics/slow")

    def closed() -> bool:
        http("GET", f"{api}/fleet/status")
        return metric(http("GET", f"{api}/metrics")[1].decode(), "api_circuit_state", dependency="external") == 0

    # open for 2 s, then a half-open trial and two successes: a busy machine gets 15 s
    wait_until(closed, 15, interval=0.2, what="breaker closed again", ignore=HTTP_NOT_YET)
    assert json.loads(http("GET", f"{api}/fleet/status")[1])["status"] == "ok"


def test_router_fails_over_between_regions(demo):
    router, proxy_api = demo.url("router"), demo.url("proxy_api")
    assert http("POST", f"{proxy_api}/proxies/api_r1", {"enabled": False})[0] == 200
    try:
        took = wait_until(lambda: get_json(f"{router}/_router/status")["active"] == "r2", 10,
                          what="failover to r2", ignore=HTTP_NOT_YET)
        # two failed checks 250 ms apart (~0.5-1.3 s idle); a router that never failed over on its own
        # (only on a forwarded request's failure, or not at all) would not get there in 5 s
        assert took < 5.0, took
        status, body, headers = http("PUT", f"{router}/configs/during-partition", b"x")
        assert status == 200 and headers["X-Routed-To"] == "r2"
        assert metric(http("GET", f"{router}/_router/metrics")[1].decode(), "router_region_up", region="r1") == 0
    finally:
        http("POST", f"{proxy_api}/proxies/api_r1", {"enabled": True})
    wait_until(lambda: get_json(f"{router}/_router/status")["active"] == "r1", 10, what="back to r1",
               ignore=HTTP_NOT_YET)
    assert http("GET", f"{router}/configs/during-partition")[2]["X-Routed-To"] == "r1"


def test_memory_pressure_sheds_low_priority_work(demo):
    api = demo.url("api_r2")
    before = get_json(f"{api}/health")["memory_pressure"]
    assert before < 0.25
    # the node's budget is 512 MB; allocating and touching 560 MB takes ~0.6 s idle, several on a busy machine
    held = get_json_post(f"{api}/admin/memory?mb=560", timeout=30)
    try:
        assert held["held_mb"] == 560 and held["rss"] > 560 * 1024 * 1024 and held["memory_pressure"] == 1.0
        status, body, _ = http("GET", f"{api}/fleet/status")
        assert status == 503 and json.loads(body)["priority"] == "low"
        assert http("GET", f"{api}/configs/anything")[0] == 503     # medium priority shed too
        health = get_json(f"{api}/health")                          # critical: still answered
        assert health["status"] == "degraded" and health["memory_pressure"] == 1.0
        text = http("GET", f"{api}/metrics")[1].decode()
        assert metric(text, "api_shed_total", priority="low") >= 1
        assert metric(text, "api_memory_pressure") == 1.0
    finally:
        http("DELETE", f"{api}/admin/memory", timeout=30)
    # released memory is sampled at once; the shedder then lets low priority through again
    wait_until(lambda: http("GET", f"{api}/fleet/status")[0] == 200, 10, what="low priority served again",
               ignore=HTTP_NOT_YET)


def get_json_post(url: str, timeout: float = 3.0) -> dict:
    status, body, _ = http("POST", url, b"", timeout=timeout)
    assert status == 200, body
    return json.loads(body)


def test_switchover_answers_bad_requests_and_switches_there_and_back(demo):
    sup = demo.url("supervisor")
    assert http("POST", f"{sup}/switchover?candidate=store-z")[0] == 400
    status, body, _ = http("POST", f"{sup}/switchover?candidate=store-b&wait=soon")
    assert status == 400 and b"wait must be a number" in body
    # the standby streams from the primary and has caught up: a controlled switchover, no loss
    assert http("PUT", f"{demo.url('router')}/configs/before-switchover", b"kept")[0] == 200
    for node in ("store-b", "store-a"):                # there, and back as the ready experiments do
        status, body, _ = http("POST", f"{sup}/switchover?candidate={node}&wait=20", timeout=25)
        answer = json.loads(body)
        assert status == 200 and answer["switched"] is True and answer["expected"] == node, body
        # the 200 comes once the supervisor has read every node again: "primary" (what the role
        # probes observe) already names the candidate, so a steady-state check right after holds
        role = get_json(f"{sup}/role")
        assert role["primary"] == node and role["nodes"][node]["writable"], role
        assert http("GET", f"{demo.url('router')}/configs/before-switchover")[1] == b"kept"


def test_up_twice_says_already_up(demo):
    again = start_demo(demo.dir, free_ports=True)
    assert again.already_up and again.restarted == [] and again.ports == demo.ports


def test_stale_pid_file_is_cleaned_and_component_restarted(demo):
    pidfile = demo.dir / "run" / "external.pid"
    old = int(pidfile.read_text())
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not alive(old), 10, what="external killed")
    assert pidfile.exists()                                     # kill -9: nothing removed it
    st = demo_status(demo.dir)
    assert not st["up"] and not st["components"]["external"]["running"] and not pidfile.exists()
    again = start_demo(demo.dir, timeout=60)
    assert again.already_up and again.restarted == ["external"]
    assert int(pidfile.read_text()) != old and demo_status(demo.dir)["up"]


def test_down_after_kill_9_leaves_no_process_and_no_port(demo):
    """...and stops the demo's components only: not a process that merely names the demo's folder,
    such as the ``chaosrunner demo up --dir X`` that started it, or a ``timeout`` or shell around a
    ``demo down --dir X`` (which would be killed by the very command it runs)."""
    os.kill(int((demo.dir / "run" / "router.pid").read_text()), signal.SIGKILL)
    assert len(demo_processes(demo.dir)) >= 7
    nap = "import time; time.sleep(60)"
    bystanders = [subprocess.Popen([sys.executable, "-c", nap, "demo", "down", "--dir", str(demo.dir)]),
                  subprocess.Popen([sys.executable, "-c", nap, "-m", "chaosrunner.demo", "--dir", str(demo.dir)]),
                  subprocess.Popen([sys.executable, "-c", nap, "serve", "--config", str(demo.dir / "proxies.json")])]
    try:
        stopped = stop_demo(demo.dir)
        assert [b.poll() for b in bystanders] == [None, None, None]
        assert not {b.pid for b in bystanders} & set(stopped)
    finally:
        for b in bystanders:
            b.kill()
            b.wait()
    assert len(stopped) >= 7
    assert demo_processes(demo.dir) == []
    assert [k for k, p in demo.ports.items() if listening(p)] == []
    assert list((demo.dir / "run").glob("*.pid")) == []
    assert demo_status(demo.dir)["up"] is False


