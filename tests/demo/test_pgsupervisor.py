"""The compose demo's failover supervisor (``chaosrunner.demo.pgsupervisor``) run for real, without Docker.

Everything it talks to runs on loopback as in docker-compose.yml: a PostgreSQL 15 primary
(``store-a``) and its streaming replica (``store-b``, streaming *through* the primary's proxy, so
a partition cuts replication too), and chaosrunner's Toxiproxy-compatible proxy holding
``postgres_primary``/``postgres_standby`` (one per node) and ``store`` (the clients' path to the
primary, first through ``postgres_primary``). The supervisor is a subprocess, started with the
same arguments as the compose service's, reaching each node through its own proxy.

What the containers do and a test on loopback cannot: restart a stopped PostgreSQL (restart
policy) and run ``docker/postgres-node.sh`` on the way up. The partition test does that step
itself, with the same commands as the script (``pg_rewind --write-recovery-conf`` from the DSN the
supervisor left in ``chaosrunner.rejoin``, then start), and checks the old primary then streams
from the new one.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import psycopg
import pytest

import pgcluster
from chaosrunner.demo.inventory import free_ports
from chaosrunner.demo.pgsupervisor import Node, PgSupervisor
from chaosrunner.proxy.server import ThreadedProxyServer, start_in_thread

from .helpers import HTTP_NOT_YET, get_json, http, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 not installed")]

FAILOVER_AFTER = 2.0
#: a SQL poll of a node may meet a server still starting or a replica that has not yet replayed
#: CREATE TABLE (UndefinedTable is a ProgrammingError, handled in _replicated): "not yet"
SQL_NOT_YET = (psycopg.OperationalError,)
NODE_PROXY = {"store-a": "postgres_primary", "store-b": "postgres_standby"}


@dataclass
class Stack:
    cluster: pgcluster.PgCluster
    proxy: ThreadedProxyServer
    listen: dict[str, int]               # proxy name -> its listen port
    url: str                             # the supervisor
    log: Path                            # the supervisor's output (one JSON event a line)

    def node(self, name: str) -> pgcluster.PgNode:
        return self.cluster.nodes[name]

    def upstream(self, name: str) -> str:
        """What the ``store`` proxy points at to reach node ``name``: its node proxy."""
        return f"127.0.0.1:{self.listen[NODE_PROXY[name]]}"

    def dsn(self, name: str) -> str:
        return f"host=127.0.0.1 port={self.listen[NODE_PROXY[name]]} dbname=postgres user=postgres"

    def role(self) -> dict[str, Any]:
        return get_json(f"{self.url}/role")

    def proxy_state(self, name: str) -> dict[str, Any]:
        return get_json(f"{self.proxy.api_url}/proxies/{name}")

    def set_proxy(self, name: str, **body: Any) -> None:
        status, raw, _ = http("POST", f"{self.proxy.api_url}/proxies/{name}", body)
        assert status == 200, raw

    def write_through_store(self, value: str) -> None:
        """One client write on the clients' path (the ``store`` proxy)."""
        with psycopg.connect(f"host=127.0.0.1 port={self.listen['store']} dbname=postgres user=postgres "
                             "connect_timeout=2", autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS fleet (value text)")
            conn.execute("INSERT INTO fleet VALUES (%s)", (value,))

    def events(self, what: str) -> list[dict[str, Any]]:
        return [e for e in self.role()["events"] if e["what"] == what]


def _prepare_cluster(cluster: pgcluster.PgCluster, primary_proxy_port: int) -> None:
    """As the compose nodes run: rewindable (wal_log_hints, full_page_writes), replica through the proxy."""
    for node in (cluster.primary, cluster.standby):
        node.query("ALTER SYSTEM SET wal_log_hints = on")
        node.query("ALTER SYSTEM SET full_page_writes = on")
    cluster.standby.query(f"ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port={primary_proxy_port} "
                          f"user=postgres application_name={cluster.standby.name}'")
    # started without PostgreSQL's bin directory on PATH, as a stock installation runs it: the
    # supervisor's `COPY ... TO PROGRAM` must not count on finding pg_ctl there
    with mock.patch.dict(os.environ, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}):
        for node in (cluster.primary, cluster.standby):
            node.stop("fast")
            node.start()
    cluster.wait_streaming()
    # the primary may still list the walsender of the replica's connection before its restart: ask
    # the replica itself until its new WAL receiver streams (no row at all until it has started)
    receiver = "SELECT status, sender_port FROM pg_stat_wal_receiver"
    wait_until(lambda: cluster.standby.query(receiver) == [("streaming", primary_proxy_port)], 30, interval=0.1,
               what="the replica streaming through the primary's proxy", ignore=SQL_NOT_YET)
    [(status, port)] = cluster.standby.query(receiver)
    assert (status, port) == ("streaming", primary_proxy_port), "the replica must stream through the primary's proxy"


@contextlib.contextmanager
def running_stack(tmp_path: Path, supervise: bool = True) -> Iterator[Stack]:
    """The cluster, the proxies and (``supervise``) the supervisor as a subprocess."""
    cluster = pgcluster.PgCluster.create(names=("store-a", "store-b"))
    proxy: ThreadedProxyServer | None = None
    sup: subprocess.Popen[bytes] | None = None
    try:
        proxy = start_in_thread(port=0)
        sup_port, pa, pb, ps = free_ports(4)
        listen = {"postgres_primary": pa, "postgres_standby": pb, "store": ps}
        for name, port, upstream in (("postgres_primary", pa, f"127.0.0.1:{cluster.primary.port}"),
                                     ("postgres_standby", pb, f"127.0.0.1:{cluster.standby.port}"),
                                     ("store", ps, f"127.0.0.1:{pa}")):
            status, raw, _ = http("POST", f"{proxy.api_url}/proxies",
                                  {"name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream})
            assert status == 201, raw
        _prepare_cluster(cluster, pa)
        log = tmp_path / "pgsupervisor.log"
        stack = Stack(cluster, proxy, listen, f"http://127.0.0.1:{sup_port}", log)
        if not supervise:
            yield stack
            return
        with open(log, "wb") as out:
            sup = subprocess.Popen(
                [sys.executable, "-m", "chaosrunner.demo.pgsupervisor", "--port", str(sup_port),
                 "--proxy-api", proxy.api_url, "--store-proxy", "store", "--interval", "0.2",
                 "--failover-after", str(FAILOVER_AFTER),
                 "--node", f"store-a={stack.upstream('store-a')}={stack.dsn('store-a')}",
                 "--node", f"store-b={stack.upstream('store-b')}={stack.dsn('store-b')}"],
                stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: _role_or_none(stack) is not None and sup.poll() is None, 30, interval=0.1,
                   what="supervisor up")
        yield stack
    finally:
        if sup is not None:
            sup.terminate()
            try:
                sup.wait(5)
            except subprocess.TimeoutExpired:
                sup.kill()
                sup.wait(5)
        if proxy is not None:
            proxy.stop()
        cluster.destroy()


def _role_or_none(stack: Stack) -> dict[str, Any] | None:
    try:
        role = stack.role()
    except (OSError, AssertionError):
        return None
    # a node whose first read failed is listed too (only "reachable": False and the error): ready is
    # both nodes read and store-a seen as the primary
    nodes = role["nodes"]
    ready = set(nodes) == {"store-a", "store-b"} and all(n.get("reachable") for n in nodes.values()) \
        and role["primary"] == "store-a"
    return role if ready else None


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as s:
        yield s


def _wait_store_proxy_to(stack: Stack, name: str) -> None:
    """The supervisor re-points the ``store`` proxy right after promoting; a Toxiproxy call that failed
    is made again by its proxy check, every 5 rounds (1 s)."""
    wait_until(lambda: stack.proxy_state("store")["upstream"] == stack.upstream(name), 10,
               what=f"the store proxy re-pointed to {name}", ignore=HTTP_NOT_YET)
    assert stack.proxy_state("store")["upstream"] == stack.upstream(name)


def _replicated(stack: Stack, value: str, on: str) -> bool:
    """Whether ``value`` is on node ``on``; False while even the table has not been replayed there."""
    try:
        return bool(stack.node(on).query("SELECT 1 FROM fleet WHERE value = %s", (value,)))
    except psycopg.errors.UndefinedTable:                   # replication is asynchronous: CREATE TABLE too
        return False


def test_role_answers_what_the_experiments_read(stack: Stack):
    role = stack.role()
    assert role["primary"] == "store-a"                     # the role probe's field (experiments, compose.yaml)
    assert role["expected"] == "store-a" and role["term"] == 1
    a, b = role["nodes"]["store-a"], role["nodes"]["store-b"]
    assert a["role"] == "primary" and a["writable"] and a["standby_attached"] and a["reachable"]
    assert b["role"] == "standby" and not b["writable"] and b["following"] == "streaming"
    assert a["data_directory"] == str(stack.node("store-a").datadir)
    assert stack.proxy_state("store")["upstream"] == stack.upstream("store-a")


def test_primary_crash_promotes_the_replica_and_repoints_the_store_proxy(stack: Stack):
    stack.write_through_store("before")
    wait_until(lambda: _replicated(stack, "before", "store-b"), 20, what="the write on the replica",
               ignore=SQL_NOT_YET)
    # from just before the stop: store-a answers until then, so the supervisor's last good read of it
    # is at most a round (0.2 s) earlier; pg_ctl stop itself can take a while on a busy machine
    t0 = time.monotonic()
    stack.node("store-a").stop("immediate")
    wait_until(lambda: stack.role()["primary"] == "store-b", 20, what="store-b named primary", ignore=HTTP_NOT_YET)
    took = time.monotonic() - t0
    # a supervisor promoting at the first failed read names store-b well under 1 s after the stop
    assert took >= FAILOVER_AFTER - 0.5, f"promoted after {took:.1f}s, before --failover-after"
    assert stack.node("store-b").is_primary()               # asked directly, not through the supervisor
    _wait_store_proxy_to(stack, "store-b")
    stack.write_through_store("after")
    assert _replicated(stack, "before", "store-b") and _replicated(stack, "after", "store-b")
    role = stack.role()
    assert role["expected"] == "store-b" and role["term"] == 2
    [failover] = stack.events("failover")
    assert (failover["old"], failover["new"], failover["term"]) == ("store-a", "store-b", 2)


def test_partitioned_primary_is_fenced_and_rejoins_as_replica(stack: Stack):
    stack.write_through_store("before")
    wait_until(lambda: _replicated(stack, "before", "store-b"), 20, what="the write on the replica",
               ignore=SQL_NOT_YET)
    stack.set_proxy("postgres_primary", enabled=False)      # partition: store-a runs, nobody reaches it
    wait_until(lambda: stack.role()["primary"] == "store-b", 20, what="store-b named primary", ignore=HTTP_NOT_YET)
    assert stack.node("store-b").is_primary()
    assert stack.node("store-a").is_primary()               # split brain, but the store path leads to store-b
    _wait_store_proxy_to(stack, "store-b")
    stack.write_through_store("during")

    stack.set_proxy("postgres_primary", enabled=True)       # the partition heals: store-a is fenced
    old = stack.node("store-a")
    # a fencing attempt that failed (a statement timed out on a busy machine) is tried again
    # REJOIN_EVERY (15 s) later: room for one retry and a fast shutdown
    wait_until(lambda: old.pid() is None, 25, what="the old primary stopped by the supervisor")
    marker = old.datadir / "chaosrunner.rejoin"
    assert marker.read_text().strip() == stack.dsn("store-b")
    # the stop runs in the background on that server: the supervisor logs "fenced" once its own
    # COPY returns, which can be a moment after the server is gone
    wait_until(lambda: stack.events("fenced"), 10, what="the fenced event", ignore=HTTP_NOT_YET)
    [fenced] = stack.events("fenced")
    assert (fenced["node"], fenced["primary"]) == ("store-a", "store-b")

    # the container's restart: docker/postgres-node.sh's rejoin, then PostgreSQL starts again
    rewind = subprocess.run(pgcluster._as_postgres([
        str(pgcluster.PG_BIN / "pg_rewind"), f"--target-pgdata={old.datadir}",
        f"--source-server={marker.read_text().strip()}", "--write-recovery-conf"]),
        capture_output=True, text=True, timeout=60)
    assert rewind.returncode == 0, rewind.stderr
    # not "no rewind required": the new primary's control file already names its new timeline
    assert "servers diverged" in rewind.stderr and "Done!" in rewind.stderr, rewind.stderr
    marker.unlink(missing_ok=True)                          # rm -f: pg_rewind already dropped it (not on the source)
    old.start()
    assert not old.is_primary()
    wait_until(lambda: stack.role()["nodes"]["store-a"].get("following") == "streaming", 30,
               what=f"store-a streaming from store-b (its log: {old.log})", ignore=HTTP_NOT_YET)
    stack.write_through_store("rejoined")
    wait_until(lambda: _replicated(stack, "rejoined", "store-a"), 20, what="the new write on store-a",
               ignore=SQL_NOT_YET)
    assert _replicated(stack, "during", "store-a")
    # store-a's WAL receiver says "streaming" while store-b's sender may still say "catchup" (only
    # "streaming" senders count as attached), and the supervisor reads both once a round
    wait_until(lambda: stack.role()["nodes"]["store-b"]["standby_attached"], 10,
               what="store-b sees store-a attached", ignore=HTTP_NOT_YET)
    role = stack.role()
    assert role["primary"] == "store-b" and role["nodes"]["store-a"]["role"] == "standby"
    assert role["nodes"]["store-b"]["standby_attached"]
    printed = [json.loads(line) for line in stack.log.read_text().splitlines() if line.startswith("{")]
    # its stdout: one JSON event a line. A Toxiproxy call or a fencing attempt that failed on a busy
    # machine is retried by design (the next proxy check, the next rejoin round) and logged as such;
    # anything else (an error round, a failed promotion or checkpoint, a second failover) is not
    retried = {"proxy-failed", "fenced-failed"}
    assert [e["what"] for e in printed if e["what"] not in retried] == ["failover", "fenced"], printed


def test_switchover_moves_the_primary_and_loses_no_write(stack: Stack):
    """``POST /switchover``, which the compose experiments end with (as ``patronictl switchover``):
    writes stop at the store proxy, store-b replays all of store-a's WAL, store-a is stopped to rejoin
    as a replica on its restart, store-b is promoted and the store proxy leads to it. The 200 comes
    with ``GET /role`` already naming store-b."""
    stack.write_through_store("before")
    wait_until(lambda: _replicated(stack, "before", "store-b"), 20, what="the write on the replica",
               ignore=SQL_NOT_YET)
    status, body, _ = http("POST", f"{stack.url}/switchover?candidate=store-z")
    assert status == 400 and b"no store node 'store-z'" in body
    status, body, _ = http("POST", f"{stack.url}/switchover?candidate=store-b&wait=40", timeout=45)
    answer = json.loads(body)
    assert status == 200 and answer["switched"] is True, answer
    assert answer["primary"] == "store-b" and answer["expected"] == "store-b" and answer["term"] == 2, answer
    assert stack.role()["primary"] == "store-b"
    assert stack.node("store-b").is_primary()              # asked directly, not through the supervisor
    state = stack.proxy_state("store")
    assert state["enabled"] and state["upstream"] == stack.upstream("store-b"), state
    old = stack.node("store-a")
    wait_until(lambda: old.pid() is None, 25, what="store-a stopped to rejoin as a replica")
    assert (old.datadir / "chaosrunner.rejoin").read_text().strip() == stack.dsn("store-b")

    stack.write_through_store("after")                     # clients reach the new primary, unchanged
    assert _replicated(stack, "before", "store-b") and _replicated(stack, "after", "store-b")
    [switch] = stack.events("switchover")
    assert (switch["old"], switch["new"], switch["term"]) == ("store-a", "store-b", 2)
    assert stack.events("stopped-for-switchover")
    # asked again, it answers at once: store-b already is the primary
    status, body, _ = http("POST", f"{stack.url}/switchover?candidate=store-b&wait=5", timeout=10)
    assert status == 200 and json.loads(body)["term"] == 2


@contextlib.contextmanager
def _replicating_stack(tmp_path: Path) -> Iterator[Stack]:
    """The stack without its supervisor subprocess, a first write already on the replica."""
    with running_stack(tmp_path, supervise=False) as stack:
        stack.write_through_store("before")
        wait_until(lambda: _replicated(stack, "before", "store-b"), 20, what="the write on the replica",
                   ignore=SQL_NOT_YET)
        yield stack


def _in_process(stack: Stack, cls: type[PgSupervisor]) -> PgSupervisor:
    return cls([Node(f"{n}={stack.upstream(n)}={stack.dsn(n)}") for n in ("store-a", "store-b")],
               stack.proxy.api_url, "store", None, 0.2, FAILOVER_AFTER)


async def _switch_in_process(sup: PgSupervisor, candidate: str) -> tuple[bool, str]:
    """One switchover by the supervisor's own code, without its rounds (so nothing fences later)."""
    sup.http = aiohttp.ClientSession()
    try:
        await asyncio.gather(*(sup._read(n) for n in sup.nodes))
        assert sup._caught_up(candidate), sup.info
        return await sup._switch(candidate)
    finally:
        await sup.http.close()


def test_a_switchover_asks_a_slow_old_primary_again_to_stop(tmp_path: Path):
    """A loaded machine can answer the old primary's first statement later than its timeout. The
    switchover must ask again, with more time, and stop it *then*, not leave it writable until it is
    fenced seconds later. The supervisor runs in this process on the real cluster; the first
    ``pg_config`` query of the demotion is held past its timeout, which is how a slow server looks
    to it (a real ``TimeoutError`` from ``asyncio.wait_for``)."""
    class SlowFirstAnswer(PgSupervisor):
        held = 0

        async def _sql(self, name: str, query: Any, timeout: float = 2.0) -> list[tuple[Any, ...]]:
            if "pg_config" in str(query) and not self.held:
                self.held += 1
                await asyncio.wait_for(asyncio.sleep(timeout + 1.0), timeout)
            return await super()._sql(name, query, timeout)

    with _replicating_stack(tmp_path) as stack:
        sup = _in_process(stack, SlowFirstAnswer)
        ok, message = asyncio.run(_switch_in_process(sup, "store-b"))
        assert ok, (message, sup.events)
        assert sup.held == 1
        whats = [e["what"] for e in sup.events]
        assert whats.index("stopped-for-switchover-failed") < whats.index("stopped-for-switchover") \
            < whats.index("switchover"), whats
        assert "TimeoutError" in sup.events[whats.index("stopped-for-switchover-failed")]["error"]
        old = stack.node("store-a")
        wait_until(lambda: old.pid() is None, 15, what="store-a stopped by the switchover itself")
        assert (old.datadir / "chaosrunner.rejoin").read_text().strip() == stack.dsn("store-b")
        assert stack.node("store-b").is_primary()
        state = stack.proxy_state("store")
        assert state["enabled"] and state["upstream"] == stack.upstream("store-b"), state
        assert _replicated(stack, "before", "store-b")


def test_a_switchover_that_fails_midway_enables_writes_again(tmp_path: Path):
    """Writes stop (the ``store`` proxy disabled) before the old primary's WAL position is read. An
    error there must not leave them stopped: the switchover answers that it failed, the proxy is
    enabled again, and the old primary is still the primary. The supervisor runs in this process on
    the real cluster; its WAL position query is made to fail as a dropped connection would."""
    class BrokenPosition(PgSupervisor):
        async def _sql(self, name: str, query: Any, timeout: float = 2.0) -> list[tuple[Any, ...]]:
            if "pg_current_wal_lsn()" in str(query) and "pg_is_in_recovery" not in str(query):
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return await super()._sql(name, query, timeout)

    with _replicating_stack(tmp_path) as stack:
        sup = _in_process(stack, BrokenPosition)
        ok, message = asyncio.run(_switch_in_process(sup, "store-b"))
        assert not ok and "server closed the connection" in message, message
        [failed] = [e for e in sup.events if e["what"] == "switchover-failed"]
        assert failed["node"] == "store-b"
        state = stack.proxy_state("store")
        assert state["enabled"] and state["upstream"] == stack.upstream("store-a"), state
        assert stack.node("store-a").is_primary() and not stack.node("store-b").is_primary()
        assert sup.primary == "store-a" and sup.term == 1
        stack.write_through_store("after")                 # clients write again, to the same primary
