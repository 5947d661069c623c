"""The demo's config store node: a key-value store on SQLite, primary or standby, with log shipping.

    python -m chaosrunner.demo.store --name store-a --port N --db a.db --role primary [--sync]

Every write on the primary is committed to its SQLite file (WAL) together with an entry of its
write log (``seq``). A standby *pulls* the log from its primary, as a PostgreSQL standby's WAL
receiver does, and applies each batch in one transaction:

- **asynchronous** (default): the standby polls every ``--interval`` (jittered 0.5-1.5 x, 150 ms by
  default) and the primary acknowledges a write as soon as it is committed locally. A primary
  killed or cut off loses what it acknowledged since the standby's last poll: real data loss.
- **synchronous** (``--sync``): the standby long-polls, and the primary acknowledges a write only
  once the standby confirmed it (a poll with ``after >= seq``). When no standby is attached
  (none polled in the last 0.5 s) the primary acknowledges after its local commit, like Patroni's
  non-strict synchronous mode; otherwise a promoted standby would refuse every write forever.

Synchronous mode is strict: once a standby has attached in this term, the primary never
acknowledges a write the standby has not confirmed (a write then fails with 503 after
``--sync-timeout``). Only the supervisor may let a primary acknowledge alone — by promoting it
(a new primary has no standby yet) or by confirming it again once the standby has been
unreachable for its failover delay — so an acknowledged write is always on a node the
supervisor could promote.

Lease: a primary that has been supervised (its ``/role`` is read every round) fences itself when
the supervisor has not been heard from for ``LEASE`` seconds (shorter than the supervisor's
failover delay), and stays fenced until the supervisor confirms it. A partitioned old primary
is therefore no longer writable, nor counted as primary, by the time its standby is promoted.

Fencing: every promotion carries a ``term``. A node that was primary and restarts comes back
*fenced* (``writable: false``) until the supervisor confirms it (``POST /promote``) or tells it to
follow the new primary (``POST /follow``, which re-syncs from a snapshot and so discards writes
the new primary never received, as ``pg_rewind`` would). A primary asked for its log by a node of a
newer term steps down. ``GET /role`` tells the truth, split brain included.

Switchover: ``POST /demote`` stops writes (the node *drains*: its standby may still pull the rest of
its log); a write then gets 503 with ``"switchover": true`` (``Retry-After: 1``), which the API
nodes hold and retry on the new primary rather than count as a store failure. ``/role`` shows
``draining``.

HTTP: ``PUT/GET/DELETE /kv/{key}``, ``POST /kv/_batch`` (``{"get": [keys]}``, ``{"delete": [keys]}`` or
``{"put": {key: value}}``, at most 5,000: the writer's read-back and clean-up), ``GET /health``,
``GET /role``, ``GET /metrics``, ``POST /promote {"term"}``, ``POST /follow {"primary_url", "term"[,
"replayed"]}``, ``POST /demote``, internal ``GET /wal?after=&term=&wait=`` and ``GET /snapshot``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from typing import Any

import aiohttp
from aiohttp import web

from chaosrunner.demo.common import Metrics, metrics_response, reply, serve

ATTACHED_FOR = 0.5      # a standby that polled this recently counts as attached (sync mode)
LEASE = 1.0             # a supervised primary unheard-of this long fences itself (supervisor fails over at 2s)
BATCH = 2000
MAX_BATCH = 5000        # keys in one POST /kv/_batch


class StoreNode:
    def __init__(self, name: str, db_path: str, *, role: str, follow: str | None, sync: bool,
                 interval: float, sync_timeout: float) -> None:
        self.name, self.sync, self.interval, self.sync_timeout = name, sync, interval, sync_timeout
        self.db = sqlite3.connect(db_path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, op TEXT, key TEXT, value TEXT);"
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);")
        meta = dict(self.db.execute("SELECT k, v FROM meta").fetchall())
        restarted = "role" in meta
        self.role = meta.get("role", role)
        self.term = int(meta.get("term", "1"))
        self.upstream = meta.get("upstream") or (follow if not restarted else None)
        self.base_seq = int(meta.get("base_seq", "0"))
        self.needs_resync = meta.get("needs_resync") == "1"
        row = self.db.execute("SELECT MAX(seq) FROM log").fetchone()
        self.seq = max(self.base_seq, row[0] or 0)
        # a primary that comes back after a crash must not take writes until it is confirmed
        self.writable = self.role == "primary" and not restarted
        self.confirmed = 0
        self.last_poll = 0.0
        self.polling = 0
        self.alone_ok = False          # sync mode: may acknowledge without a standby (the supervisor said so)
        self.draining = False          # demoted for a switchover: no writes, but its log is still served
        self.lease_until: float | None = None   # None: never supervised, no lease to lose
        self._changed = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.metrics = Metrics()
        self.metrics.describe("store_writes_total", "counter", "writes committed on this node as primary")
        self.metrics.describe("store_degraded_acks_total", "counter",
                              "sync-mode writes acknowledged without a standby attached")
        self.metrics.gauge("store_seq", lambda: self.seq, node=name)
        self.metrics.gauge("store_is_primary", lambda: float(self.role == "primary" and self.writable), node=name)
        self.metrics.gauge("store_replication_lag_entries",
                           lambda: float(self.seq - self.confirmed) if self.role == "primary" else 0.0, node=name)
        self._save()

    # -- persistence -------------------------------------------------------------------------
    def _save(self) -> None:
        values = {"role": self.role, "term": str(self.term), "upstream": self.upstream or "",
                  "base_seq": str(self.base_seq), "needs_resync": "1" if self.needs_resync else "0"}
        self.db.executemany("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", values.items())

    def _apply(self, entries: list[list[Any]]) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN")
        for seq, op, key, value in entries:
            cur.execute("INSERT OR REPLACE INTO log (seq, op, key, value) VALUES (?, ?, ?, ?)", (seq, op, key, value))
            if op == "put":
                cur.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))
            else:
                cur.execute("DELETE FROM kv WHERE key = ?", (key,))
        cur.execute("COMMIT")
        if entries:
            self.seq = entries[-1][0]

    def _notify(self, attr: str) -> None:
        event = getattr(self, attr)
        setattr(self, attr, asyncio.Event())
        event.set()

    # -- client API --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        self.check_lease()
        attached = self.polling > 0 or time.monotonic() - self.last_poll < ATTACHED_FOR
        return {"node": self.name, "role": self.role, "writable": self.writable, "term": self.term,
                "seq": self.seq, "following": self.upstream if self.role == "standby" else None,
                "mode": "sync" if self.sync else "async", "draining": self.draining,
                "standby_attached": attached if self.role == "primary" else None,
                "standby_confirmed": self.confirmed if self.role == "primary" else None}

    def _attached(self) -> bool:
        return self.polling > 0 or time.monotonic() - self.last_poll < ATTACHED_FOR

    def check_lease(self) -> None:
        """Fence this primary when the supervisor has not been heard from within the lease."""
        if self.role == "primary" and self.writable and self.lease_until is not None \
                and time.monotonic() > self.lease_until:
            self.writable = False
            self.metrics.inc("store_lease_expired_total", node=self.name)

    def renew_lease(self) -> None:
        self.check_lease()             # an expired lease stays expired: only /promote confirms again
        self.lease_until = time.monotonic() + LEASE

    async def write(self, op: str, key: str, value: str | None) -> web.Response:
        return await self.write_many([(op, key, value)])

    async def write_many(self, ops: list[tuple[str, str, str | None]]) -> web.Response:
        """Apply writes in one transaction, one log entry each (replicated and acknowledged as one)."""
        self.check_lease()
        if self.draining:              # demoted for a switchover: the client may retry on the new primary
            return reply({"error": "switchover in progress: writes paused", "switchover": True,
                          "node": self.name, "role": self.role}, 503, {"Retry-After": "1"})
        if self.role != "primary" or not self.writable:
            why = "fenced: waiting for the supervisor" if self.role == "primary" else "not primary"
            return reply({"error": why, "node": self.name, "role": self.role}, 503)
        first = self.seq + 1
        self._apply([[first + i, op, key, value] for i, (op, key, value) in enumerate(ops)])
        seq = first + len(ops) - 1
        for op in {op for op, _, _ in ops}:
            self.metrics.inc("store_writes_total", sum(o == op for o, _, _ in ops), node=self.name, op=op)
        self._notify("_changed")
        if self.sync:
            deadline = time.monotonic() + self.sync_timeout
            while self.confirmed < seq:
                if not self._attached() and self.alone_ok:
                    self.metrics.inc("store_degraded_acks_total", node=self.name)
                    break
                if time.monotonic() > deadline:
                    return reply({"error": "standby did not confirm in time", "seq": seq}, 503)
                try:
                    await asyncio.wait_for(self._confirmed.wait(), 0.1)
                except TimeoutError:
                    pass
        return reply({"seq": seq, "node": self.name} | ({"count": len(ops)} if len(ops) > 1 else {}))

    def read_many(self, keys: list[str]) -> dict[str, str | None]:
        """The value of each key (None: absent), in chunks below SQLite's limit on parameters."""
        found: dict[str, str | None] = dict.fromkeys(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.db.execute(f"SELECT key, value FROM kv WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(rows.fetchall())
        return found

    def read(self, key: str) -> web.Response:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        headers = {"X-Store-Node": self.name, "X-Store-Role": self.role}
        if row is None:
            return web.Response(status=404, text="not found", headers=headers)
        return web.Response(text=row[0], headers=headers)

    # -- replication, primary side -----------------------------------------------------------
    async def wal(self, after: int, term: int, wait: float) -> web.Response:
        if term > self.term and self.role == "primary":
            self.role, self.writable, self.upstream = "standby", False, None   # superseded: step down
            self.term = term
            self._save()
        if self.role != "primary" and not self.draining:
            return reply({"error": "not primary", "role": self.role}, 409)
        if term != self.term or after > self.seq or after < self.base_seq:
            return reply({"error": "resync", "term": self.term, "seq": self.seq}, 409)
        self.last_poll = time.monotonic()
        self.alone_ok = False          # a standby is attached: strict again until the supervisor says otherwise
        if after > self.confirmed or after < self.confirmed:
            self.confirmed = after
            self._notify("_confirmed")
        if after == self.seq and wait > 0:
            self.polling += 1
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except TimeoutError:
                pass
            finally:
                self.polling -= 1
                self.last_poll = time.monotonic()
        rows = self.db.execute("SELECT seq, op, key, value FROM log WHERE seq > ? ORDER BY seq LIMIT ?",
                               (after, BATCH)).fetchall()
        return reply({"term": self.term, "seq": self.seq, "entries": rows})

    def snapshot(self) -> web.Response:
        if self.role != "primary":
            return reply({"error": "not primary"}, 409)
        items = self.db.execute("SELECT key, value FROM kv").fetchall()
        return reply({"term": self.term, "seq": self.seq, "items": items})

    # -- replication, standby side -----------------------------------------------------------
    def start_following(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        self._follower = None
        if self.role == "standby" and self.upstream:
            self._follower = asyncio.get_running_loop().create_task(self._follow_loop())

    async def _resync(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.upstream}/snapshot", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"snapshot: HTTP {resp.status}")
            snap = await resp.json()
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.execute("DELETE FROM kv")
        cur.execute("DELETE FROM log")
        cur.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", snap["items"])
        cur.execute("COMMIT")
        self.seq = self.base_seq = snap["seq"]
        self.term = max(self.term, snap["term"])
        self.needs_resync = False
        self._save()

    async def _follow_loop(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        http = self._session
        while True:
            wait = 1.0 if self.sync else 0.0
            try:
                if self.needs_resync:
                    await self._resync(http)
                url = f"{self.upstream}/wal?after={self.seq}&term={self.term}&wait={wait}&node={self.name}"
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=wait + 2.0)) as resp:
                    body = await resp.json()
                if resp.status == 409 and body.get("error") == "resync":
                    self.needs_resync = True
                    self._save()
                elif resp.status == 200:
                    self._apply(body["entries"])
                    if len(body["entries"]) == BATCH:
                        continue
                    if self.sync:
                        continue
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the primary is unreachable: keep trying, as a WAL receiver does
                pass
            await asyncio.sleep(self.interval * random.uniform(0.5, 1.5))

    # -- role changes (from the supervisor) ----------------------------------------------------
    def promote(self, term: int) -> web.Response:
        self.draining = False
        if term < self.term:
            return reply({"error": f"term {term} is older than mine ({self.term})"}, 409)
        self.role, self.term, self.writable, self.upstream = "primary", term, True, None
        self.confirmed, self.last_poll = 0, 0.0
        self.alone_ok = True                         # the supervisor's word: no standby to wait for now
        self.lease_until = time.monotonic() + LEASE
        self._save()
        self.start_following()
        return reply(self.status())

    def follow(self, primary_url: str, term: int, replayed: int | None = None) -> web.Response:
        """Follow ``primary_url``. ``replayed``: the end of a switchover, the new primary having
        replayed this node's log up to there (a sync-mode write waiting for it is safe: answered)."""
        if self.draining and replayed is not None and replayed > self.confirmed:
            self.confirmed = min(replayed, self.seq)
            self._notify("_confirmed")
        self.draining = False
        if term < self.term:
            return reply({"error": f"term {term} is older than mine ({self.term})"}, 409)
        self.role, self.writable, self.upstream, self.term = "standby", False, primary_url.rstrip("/"), term
        self.needs_resync = True
        self._save()
        self.start_following()
        return reply(self.status())

    def demote(self) -> web.Response:
        """Stop taking writes for a switchover; standbys may still pull the rest of the log."""
        self.role, self.writable, self.upstream, self.draining = "standby", False, None, True
        self._save()
        self.start_following()
        return reply(self.status())

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        if self._session is not None:
            await self._session.close()
        self.db.close()


def build_app(node: StoreNode) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)

    async def put(request: web.Request) -> web.Response:
        return await node.write("put", request.match_info["key"], await request.text())

    async def delete(request: web.Request) -> web.Response:
        return await node.write("del", request.match_info["key"], None)

    async def get(request: web.Request) -> web.Response:
        return node.read(request.match_info["key"])

    async def batch(request: web.Request) -> web.Response:
        """``POST /kv/_batch`` ``{"get": [keys]}`` → ``{"values": {key: value | null}}``;
        ``{"delete": [keys]}`` or ``{"put": {key: value}}`` → one transaction (a write: primary only)."""
        body = await _json(request)
        puts = body.get("put")
        if isinstance(puts, dict) and 0 < len(puts) <= MAX_BATCH and all(isinstance(v, str) for v in puts.values()):
            return await node.write_many([("put", k, v) for k, v in puts.items()])
        keys = body.get("get", body.get("delete"))
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(keys) > MAX_BATCH:
            return reply({"error": f"give {{\"get\": [keys]}}, {{\"delete\": [keys]}} or {{\"put\": {{key: value}}}}, "
                                   f"at most {MAX_BATCH}"}, 400)
        if "get" in body:
            return reply({"values": node.read_many(keys), "node": node.name, "role": node.role})
        return await node.write_many([("del", k, None) for k in keys]) if keys else reply({"count": 0})

    async def health(request: web.Request) -> web.Response:
        return reply({"status": "ok", **node.status()})

    async def role(request: web.Request) -> web.Response:
        node.renew_lease()             # the supervisor reads every node's role each round
        return reply(node.status())

    async def wal(request: web.Request) -> web.Response:
        q = request.query
        return await node.wal(int(q.get("after", "0")), int(q.get("term", "0")), float(q.get("wait", "0")))

    async def snapshot(request: web.Request) -> web.Response:
        return node.snapshot()

    async def promote(request: web.Request) -> web.Response:
        body = await _json(request)
        return node.promote(int(body.get("term", node.term + 1)))

    async def follow(request: web.Request) -> web.Response:
        body = await _json(request)
        if not body.get("primary_url"):
            return reply({"error": "primary_url is required"}, 400)
        replayed = body.get("replayed")
        return node.follow(body["primary_url"], int(body.get("term", node.term)),
                           int(replayed) if replayed is not None else None)

    async def demote(request: web.Request) -> web.Response:
        return node.demote()

    async def metrics(request: web.Request) -> web.Response:
        return metrics_response(node.metrics)

    app.add_routes([web.post("/kv/_batch", batch),
                    web.put("/kv/{key}", put), web.get("/kv/{key}", get), web.delete("/kv/{key}", delete),
                    web.get("/health", health), web.get("/role", role), web.get("/wal", wal),
                    web.get("/snapshot", snapshot), web.post("/promote", promote), web.post("/follow", follow),
                    web.post("/demote", demote), web.get("/metrics", metrics)])
    return app


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.text()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.store", description=__doc__.split("\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True, help="SQLite file of this node")
    p.add_argument("--role", choices=("primary", "standby"), default="primary",
                   help="role on first start (a restart keeps the role stored in the database)")
    p.add_argument("--follow", help="URL of the primary (through its proxy) for a standby")
    p.add_argument("--sync", action="store_true", help="acknowledge writes only once the standby applied them")
    p.add_argument("--interval", type=float, default=0.15, help="async log-shipping poll interval, seconds")
    p.add_argument("--sync-timeout", type=float, default=5.0)
    p.add_argument("--pidfile")
    p.add_argument("--dir", help="the demo directory (lets `demo down` find this process)")
    args = p.parse_args(argv)
    holder: dict[str, StoreNode] = {}

    async def on_start() -> None:
        holder["node"].start_following()

    async def on_stop() -> None:
        await holder["node"].close()

    # the node owns asyncio objects, so it is created inside the service's event loop
    async def make() -> web.Application:
        holder["node"] = StoreNode(args.name, args.db, role=args.role, follow=args.follow, sync=args.sync,
                                   interval=args.interval, sync_timeout=args.sync_timeout)
        return build_app(holder["node"])

    serve(make, args.host, args.port, args.pidfile, args.name, on_start=on_start, on_stop=on_stop)


if __name__ == "__main__":
    main()
