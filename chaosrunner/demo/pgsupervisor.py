"""The failover supervisor of the demo on real parts (docker-compose): PostgreSQL primary + replica.

    python -m chaosrunner.demo.pgsupervisor --port 18090 --proxy-api http://toxiproxy:8474 \
        --node 'store-a=localhost:15432=host=toxiproxy port=15432 dbname=fleet user=app password=chaos' \
        --node 'store-b=localhost:15433=host=toxiproxy port=15433 dbname=fleet user=app password=chaos'

Each ``--node`` is ``NAME=STORE_UPSTREAM=DSN``: the node's name (the same ``store-a``/``store-b``
as the embedded demo's, so the same experiments read the same answers), the upstream the
``store`` proxy points at to reach it, and how to reach it *through its own proxy* (a partitioned
node looks dead, as it would to a real supervisor). The first node is the initial primary. It
plays the part of the embedded demo's supervisor (``chaosrunner.demo.supervisor``), with the
same HTTP shape (``GET /role`` with ``primary``, ``POST /switchover``):

- every ``--interval`` each node answers ``pg_is_in_recovery()`` and its WAL position;
- the primary unreachable for ``--failover-after`` seconds: the reachable replica with the most
  WAL is promoted (``pg_promote()``, then ``CHECKPOINT``: ``pg_rewind`` reads the new timeline
  from the control file) and the ``store`` proxy re-pointed to it (Toxiproxy API);
- a node that is a primary but not the chosen one (an old primary back from a crash or a
  partition; the ``store`` proxy no longer leads to it, so no client writes there) is demoted:
  the supervisor leaves ``chaosrunner.rejoin`` (the new primary's DSN) in its data directory and
  stops it (``COPY ... TO PROGRAM 'pg_ctl stop'``, as the superuser, with the server's own
  ``pg_ctl``: ``pg_config``'s ``BINDIR``); the container restarts, and
  ``docker/postgres-node.sh`` runs ``pg_rewind --write-recovery-conf`` from the new primary
  before PostgreSQL starts again as its replica — what it alone had is discarded;
- ``POST /switchover?candidate=store-a&wait=30``: once the candidate streams from the primary
  and has caught up, writes stop (the ``store`` proxy is disabled), the candidate replays the
  primary's last WAL, the old primary is stopped to rejoin as above, the candidate is promoted,
  and the proxy re-pointed and enabled. 200 when the candidate is the primary; 503 with the
  reason otherwise. Replication is asynchronous (PostgreSQL's default streaming replication).
"""
from __future__ import annotations

import argparse
import asyncio
import shlex
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web
from psycopg import sql

from chaosrunner.demo.common import reply, serve
from chaosrunner.demo.supervising import SupervisorCore, switchover_handler

STATUS_SQL = """
SELECT pg_is_in_recovery(),
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                            ELSE pg_current_wal_lsn() END, '0/0')::bigint,
       current_setting('data_directory'),
       (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'),
       (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')
"""
CAUGHT_UP_BYTES = 1024 * 1024
REJOIN_EVERY = 15.0


class Node:
    def __init__(self, spec: str) -> None:
        self.name, self.upstream, self.dsn = spec.split("=", 2)


class PgSupervisor(SupervisorCore[Node]):
    def __init__(self, nodes: list[Node], proxy_api: str, store_proxy: str, state_file: Path | None,
                 interval: float, failover_after: float) -> None:
        super().__init__({n.name: n for n in nodes}, proxy_api, store_proxy, state_file, interval, failover_after)
        self.last_rejoin: dict[str, float] = {}

    async def _sql(self, name: str, query: sql.Composed | sql.SQL | str, timeout: float = 2.0) -> list[tuple[Any, ...]]:
        async def run() -> list[tuple[Any, ...]]:
            async with await psycopg.AsyncConnection.connect(self.nodes[name].dsn, connect_timeout=2,
                                                             autocommit=True) as conn:
                cur = await conn.execute(query)
                return await cur.fetchall() if cur.description else []
        return await asyncio.wait_for(run(), timeout)

    async def _read(self, name: str) -> None:
        try:
            [(recovery, pos, datadir, standbys, receiving)] = await self._sql(name, STATUS_SQL, 1.5)
            self.info[name] = {"node": name, "role": "standby" if recovery else "primary", "writable": not recovery,
                               "seq": pos, "data_directory": datadir, "standby_attached": standbys > 0,
                               "following": "streaming" if receiving else None, "mode": "async",
                               "reachable": True}
            self.last_ok[name] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - unreachable, for whatever reason
            self.info[name] = {**self.info.get(name, {"node": name}), "reachable": False,
                               "error": f"{type(exc).__name__}: {exc}"}

    async def _proxy(self, body: dict[str, Any]) -> bool:
        assert self.http is not None
        try:
            async with self.http.post(f"{self.proxy_api}/proxies/{self.store_proxy}", json=body,
                                      timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return resp.status == 200
        except Exception as exc:  # noqa: BLE001 - retried by the next check
            self._event("proxy-failed", body=body, error=str(exc))
            return False

    async def _reconcile(self) -> None:
        now = time.monotonic()
        if not self.info[self.primary].get("reachable") and now - self.last_ok[self.primary] >= self.failover_after:
            await self._failover()
        self.rounds += 1
        if self.rounds % 5 == 0:
            await self._check_proxy()
        for name, info in self.info.items():
            if name != self.primary and info.get("reachable") and info.get("writable") and \
                    now - self.last_rejoin.get(name, -REJOIN_EVERY) >= REJOIN_EVERY:
                self.last_rejoin[name] = now
                await self._demote(name, self.primary, "fenced")
        await self._serve_switchover()

    async def _failover(self) -> None:
        old = self.primary
        candidates = [(i.get("seq", 0), n) for n, i in self.info.items()
                      if n != old and i.get("reachable") and not i.get("writable")]
        if not candidates:
            return
        _, new = max(candidates)
        if not await self._promote(new):
            return
        self.primary, self.term = new, self.term + 1
        self._save()
        self._event("failover", old=old, new=new, term=self.term, new_seq=self.info[new].get("seq"))
        await self._proxy({"upstream": self.nodes[new].upstream, "enabled": True})

    async def _promote(self, name: str) -> bool:
        try:
            [(ok,)] = await self._sql(name, "SELECT pg_promote(true, 10)", 12.0)
        except Exception as exc:  # noqa: BLE001
            self._event("promote-failed", node=name, error=str(exc))
            return False
        if ok:
            # A promoted node names its new timeline in its control file only at its next checkpoint,
            # which it merely requests (spread). pg_rewind reads the timeline there: until then a
            # rejoining old primary is told "no rewind required" and can never follow the new one.
            try:
                await self._sql(name, "CHECKPOINT", 30.0)
            except Exception as exc:  # noqa: BLE001 - promoted all the same; the rejoin may have to wait
                self._event("checkpoint-failed", node=name, error=str(exc))
        return bool(ok)

    async def _demote(self, name: str, new_primary: str, what: str, timeout: float = 2.0) -> bool:
        """Stop ``name`` so that it restarts as a replica of ``new_primary`` (postgres-node.sh rewinds it).

        True once the stop was asked for; False (with a ``<what>-failed`` event) when ``name`` could not
        be asked within ``timeout`` per statement: a loaded machine can take longer than the default."""
        datadir = self.info[name].get("data_directory", "")
        marker = sql.SQL("COPY (SELECT {}) TO {}").format(sql.Literal(self.nodes[new_primary].dsn),
                                                           sql.Literal(f"{datadir}/chaosrunner.rejoin"))
        try:
            # the server's own pg_ctl: its bin directory is not on PATH in every installation
            [(bindir,)] = await self._sql(name, "SELECT setting FROM pg_config WHERE name = 'BINDIR'", timeout)
            await self._sql(name, marker, timeout)
            stop = sql.SQL("COPY (SELECT 1) TO PROGRAM {}").format(sql.Literal(
                f"nohup {shlex.quote(f'{bindir}/pg_ctl')} stop -m fast -D {shlex.quote(datadir)} "
                ">/dev/null 2>&1 &"))
            try:
                await self._sql(name, stop, max(timeout, 5.0))
            except (psycopg.OperationalError, TimeoutError):
                # the fast shutdown ended this very session first, or is slower than the wait: the
                # stop is under way either way (a node still writable REJOIN_EVERY later is fenced again)
                pass
            self._event(what, node=name, primary=new_primary, term=self.term)
            return True
        except Exception as exc:  # noqa: BLE001 - tried again later
            self._event(f"{what}-failed", node=name, error=f"{type(exc).__name__}: {exc}")
            return False

    async def _check_proxy(self) -> None:
        assert self.http is not None
        try:
            async with self.http.get(f"{self.proxy_api}/proxies/{self.store_proxy}",
                                     timeout=aiohttp.ClientTimeout(total=1)) as resp:
                current = await resp.json() if resp.status == 200 else None
        except Exception:  # noqa: BLE001 - Toxiproxy is down: nothing to fix yet
            return
        if current is not None and current.get("upstream") != self.nodes[self.primary].upstream \
                and self.switchover is None:
            await self._proxy({"upstream": self.nodes[self.primary].upstream})

    def _caught_up(self, name: str) -> bool:
        cand, cur = self.info.get(name, {}), self.info.get(self.primary, {})
        return bool(cand.get("reachable") and cur.get("reachable") and not cand.get("writable")
                    and cand.get("following") and cand.get("seq", 0) >= cur.get("seq", 0) - CAUGHT_UP_BYTES)

    async def _switch(self, candidate: str) -> tuple[bool, str]:
        await self._proxy({"enabled": False})                     # writes stop here
        try:
            return await self._switch_while_writes_stopped(candidate)
        except Exception as exc:  # noqa: BLE001 - writes must not stay stopped by a switchover that failed
            await self._proxy({"enabled": True})
            self._event("switchover-failed", node=candidate, reason=f"{type(exc).__name__}: {exc}")
            return False, f"switchover to {candidate} failed: {type(exc).__name__}: {exc}"

    async def _switch_while_writes_stopped(self, candidate: str) -> tuple[bool, str]:
        old = self.primary
        [(target,)] = await self._sql(old, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", 5.0)
        deadline = time.monotonic() + 5.0
        while True:
            await self._read(candidate)
            if self.info[candidate].get("seq", -1) >= target:
                break
            if time.monotonic() > deadline:
                await self._proxy({"enabled": True})
                self._event("switchover-failed", node=candidate, reason="did not replay the primary's WAL in 5s")
                return False, f"{candidate} did not replay {old}'s WAL within 5s"
            await asyncio.sleep(0.1)
        # Writes are stopped: the old primary must stop now, not be fenced REJOIN_EVERY later. A
        # statement slower than its timeout (a loaded machine) is asked again, with more time; a node
        # already stopping refuses at once.
        for timeout in (2.0, 5.0, 10.0):
            if await self._demote(old, candidate, "stopped-for-switchover", timeout):
                break
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:             # its last WAL goes to the candidate as it stops
            await self._read(old)
            if not self.info[old].get("reachable"):
                break
            await asyncio.sleep(0.2)
        if not await self._promote(candidate):
            await self._proxy({"enabled": True})
            return False, f"promoting {candidate} failed (see /role events)"
        self.primary, self.term = candidate, self.term + 1
        self._save()
        await self._proxy({"upstream": self.nodes[candidate].upstream, "enabled": True})
        self._event("switchover", old=old, new=candidate, term=self.term)
        return True, f"{candidate} is the primary (term {self.term})"

    def role(self) -> dict[str, Any]:
        claims = [n for n, i in self.info.items() if i.get("reachable") and i.get("writable")]
        return {"primary": ",".join(claims), "expected": self.primary, "term": self.term, "nodes": self.info,
                "events": self.events[-20:], "preferred": self.preferred, "failback": False,
                "failover_after": self.failover_after}


def build_app(sup: PgSupervisor) -> web.Application:
    app = web.Application()

    async def role(request: web.Request) -> web.Response:
        return reply(sup.role())

    async def health(request: web.Request) -> web.Response:
        return reply({"status": "ok", "primary": sup.primary, "term": sup.term})

    switchover = switchover_handler(
        sup, lambda candidate: f"it is not a replica streaming from {sup.primary} and caught up")

    app.add_routes([web.get("/role", role), web.get("/health", health), web.post("/switchover", switchover)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.pgsupervisor", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--node", action="append", required=True, metavar="NAME=STORE_UPSTREAM=DSN")
    p.add_argument("--proxy-api", required=True, help="Toxiproxy API URL")
    p.add_argument("--store-proxy", default="store", help="the proxy clients use to reach the primary")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--failover-after", type=float, default=5.0)
    p.add_argument("--state", type=Path)
    args = p.parse_args(argv)
    if any(spec.count("=") < 2 for spec in args.node):
        p.error("--node is NAME=STORE_UPSTREAM=DSN, e.g. store-a=localhost:15432=host=toxiproxy port=15432 ...")
    sup = PgSupervisor([Node(s) for s in args.node], args.proxy_api, args.store_proxy, args.state, args.interval,
                       args.failover_after)

    async def make() -> web.Application:
        return build_app(sup)

    serve(make, args.host, args.port, None, "pgsupervisor", on_start=sup.start, on_stop=sup.stop)


if __name__ == "__main__":
    main()
