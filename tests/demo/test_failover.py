"""Store failover on the real demo: kill -9 the primary while writing, then read everything back.

Asynchronous replication must lose acknowledged writes (the standby lags by one shipping
interval); synchronous replication must lose none. Either way the supervisor promotes the
standby, the store proxy follows, and the API serves again through the router.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from chaosrunner.demo import start_demo, stop_demo

from .helpers import HTTP_NOT_YET, get_json, http, read_back, sequenced_writes, wait_until

pytestmark = pytest.mark.slow

#: start-up and repair of the demo's ten processes: generous, a busy machine is slow to start Python
START_TIMEOUT = 60
#: kill -9 to the role probe naming store-b: 2 s of failed checks, then the promotion (~2.5 s on an
#: idle machine). A supervisor that waited on a TCP or proxy timeout, or did not promote, takes far
#: longer; a busy machine adds a few seconds of scheduling.
FAILOVER_BOUND = 8.0


def _kill_primary_while_writing(demo) -> tuple[list, dict, float]:
    router, supervisor = demo.url("router"), demo.url("supervisor")
    assert get_json(f"{supervisor}/role")["primary"] == "store-a"
    pid = int((demo.dir / "run" / "store-a.pid").read_text())

    async def scenario() -> tuple[list, float]:
        stop = asyncio.Event()
        writer = asyncio.ensure_future(sequenced_writes(router, stop))
        await asyncio.sleep(1.5)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        last: object = None
        while True:   # role probe, as an experiment would sample it
            await asyncio.sleep(0.1)
            try:
                role = await asyncio.to_thread(get_json, f"{supervisor}/role")
            except HTTP_NOT_YET as exc:           # a probe that failed: not yet, as in an experiment
                last = exc
            else:
                if role["primary"] == "store-b":
                    break
                last = role
            assert time.monotonic() - killed < 20, last
        failover = time.monotonic() - killed
        await asyncio.sleep(1.0)          # writes continue on the new primary
        stop.set()
        return await writer, failover

    acked, failover = asyncio.run(scenario())
    result = asyncio.run(read_back(router, acked))
    return acked, result, failover


def _api_recovered(demo) -> None:
    router = demo.url("router")
    status, body, _ = http("PUT", f"{router}/configs/after-failover", b"ok")
    assert status == 200, body
    assert http("GET", f"{router}/configs/after-failover")[1] == b"ok"
    assert http("GET", f"{router}/health")[0] == 200


def test_async_failover_loses_acknowledged_writes(tmp_path):
    # a 0.4 s shipping interval makes the loss window wide enough that a kill never misses it
    demo = start_demo(tmp_path / "demo", free_ports=True, replication_interval=0.4,
                      timeout=START_TIMEOUT)
    try:
        acked, result, failover = _kill_primary_while_writing(demo)
        assert len(acked) > 100
        assert failover < FAILOVER_BOUND, failover
        assert result["missing"], "asynchronous replication lost nothing: the standby was not lagging"
        assert not result["corrupted"]
        # what was lost is the tail written just before the kill, not older writes
        assert len(result["missing"]) < len(acked) / 2
        _api_recovered(demo)
        role = get_json(f"{demo.url('supervisor')}/role")
        assert role["term"] == 2 and role["nodes"]["store-b"]["role"] == "primary"
        assert any(e["what"] == "failover" for e in role["events"])
    finally:
        stop_demo(demo.dir)


def test_sync_failover_loses_nothing(tmp_path):
    demo = start_demo(tmp_path / "demo", free_ports=True, sync=True, timeout=START_TIMEOUT)
    try:
        acked, result, failover = _kill_primary_while_writing(demo)
        assert len(acked) > 100
        assert failover < FAILOVER_BOUND, failover
        assert result["missing"] == [] and result["corrupted"] == []
        _api_recovered(demo)
    finally:
        stop_demo(demo.dir)


def test_returning_primary_is_fenced_and_resyncs(tmp_path):
    """The old primary comes back (restart) as a standby of the new one; never two writable primaries."""
    demo = start_demo(tmp_path / "demo", free_ports=True, timeout=START_TIMEOUT)
    try:
        supervisor, router = demo.url("supervisor"), demo.url("router")
        assert http("PUT", f"{router}/configs/k", b"v1")[0] == 200
        os.kill(int((demo.dir / "run" / "store-a.pid").read_text()), signal.SIGKILL)
        wait_until(lambda: get_json(f"{supervisor}/role")["primary"] == "store-b", 20, what="failover",
                   ignore=HTTP_NOT_YET)
        assert http("PUT", f"{router}/configs/k", b"v2")[0] == 200
        again = start_demo(demo.dir, timeout=START_TIMEOUT)   # `demo up` restarts what died
        assert again.already_up and again.restarted == ["store-a"]
        claims: set[str] = set()

        def a_follows() -> bool:
            role = get_json(f"{supervisor}/role")
            claims.add(role["primary"])
            a = role["nodes"]["store-a"]
            return a.get("reachable") and a["role"] == "standby" and a["seq"] == role["nodes"]["store-b"]["seq"]

        wait_until(a_follows, 20, what="store-a re-synced as standby", ignore=HTTP_NOT_YET)
        assert claims <= {"store-b"}, f"two writable primaries were seen: {claims}"
        status, body, _ = http("GET", f"{get_json(f'{supervisor}/role')['nodes']['store-a']['following']}/kv/k")
        assert (status, body) == (200, b"v2")
    finally:
        stop_demo(demo.dir)


def test_failback_returns_primary_role_without_loss(tmp_path):
    demo = start_demo(tmp_path / "demo", free_ports=True, failback=True, timeout=START_TIMEOUT)
    try:
        supervisor, router = demo.url("supervisor"), demo.url("router")
        os.kill(int((demo.dir / "run" / "store-a.pid").read_text()), signal.SIGKILL)
        wait_until(lambda: get_json(f"{supervisor}/role")["primary"] == "store-b", 20, what="failover",
                   ignore=HTTP_NOT_YET)
        for i in range(20):
            assert http("PUT", f"{router}/configs/fb-{i}", f"v{i}".encode())[0] == 200
        start_demo(demo.dir, timeout=START_TIMEOUT)
        wait_until(lambda: get_json(f"{supervisor}/role")["primary"] == "store-a", 25, what="failback",
                   ignore=HTTP_NOT_YET)
        role = get_json(f"{supervisor}/role")
        assert role["term"] == 3 and any(e["what"] == "failback" for e in role["events"])
        wait_until(lambda: http("GET", f"{router}/configs/fb-19")[0] == 200, 20, what="API after failback",
                   ignore=HTTP_NOT_YET)
        assert all(http("GET", f"{router}/configs/fb-{i}")[1] == f"v{i}".encode() for i in range(20))
    finally:
        stop_demo(demo.dir)
