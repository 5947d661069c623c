"""The API node's PostgreSQL backend, used instead of the demo store on real parts (docker-compose).

``python -m chaosrunner.demo.api --store postgresql://...`` keeps configs in a ``configs`` table;
the node speaks to it exactly as to the demo store (same routes, same breaker and timeouts):
``request("PUT"|"GET"|"DELETE", "/kv/<key>")`` and ``request("GET", "/role")``, which answers
from ``pg_is_in_recovery()``. A small pool of autocommit connections; a connection that failed is
dropped, so a promoted replica behind the same Toxiproxy listener is picked up by the next call.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg


class StoreUnavailable(Exception):
    """The database could not answer."""


class PgStore:
    def __init__(self, dsn: str, size: int = 8) -> None:
        self.dsn, self.gate = dsn, asyncio.Semaphore(size)
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.ready = False

    async def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self.gate:
            conn = self.idle.pop() if self.idle else None
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=2)
                if not self.ready:
                    await conn.execute("CREATE TABLE IF NOT EXISTS configs (key text PRIMARY KEY, value text NOT NULL)")
                    self.ready = True
                cur = await conn.execute(sql, params)
                rows = await cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                if conn is not None:
                    await conn.close()
                raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
            self.idle.append(conn)
            return rows

    async def request(self, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        if path == "/role":
            rows = await self._run("SELECT pg_is_in_recovery(), coalesce(host(inet_server_addr()), 'local')")
            standby, node = rows[0]
            return 200, json.dumps({"node": node, "role": "standby" if standby else "primary",
                                    "writable": not standby}).encode()
        key = path.removeprefix("/kv/")
        if method == "PUT":
            rows = await self._run("INSERT INTO configs (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                                   "SET value = excluded.value RETURNING pg_current_wal_lsn()::text",
                                   (key, (data or b"").decode()))
            return 200, json.dumps({"seq": rows[0][0], "node": "postgres"}).encode()
        if method == "DELETE":
            await self._run("DELETE FROM configs WHERE key = %s", (key,))
            return 200, b"{}"
        rows = await self._run("SELECT value FROM configs WHERE key = %s", (key,))
        return (200, rows[0][0].encode()) if rows else (404, b"not found")

    async def close(self) -> None:
        for conn in self.idle:
            await conn.close()
