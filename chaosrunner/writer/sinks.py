"""Where the writer's writes land: an HTTP key-value API, a PostgreSQL table or Redis.

A sink is five coroutines: ``open()`` (prepare, e.g. create the table), ``write(key, seq,
value)`` (returns once the store acknowledged; raises otherwise), ``read(wanted)`` (what became
of each write: ``present`` | ``missing`` | ``corrupted`` | ``duplicated``; raises when the store
cannot answer, and the writer retries), ``cleanup()`` and ``close()``. The writer bounds every
call with its timeout; a sink never retries a write itself (a retried write is a different
measurement).
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Protocol

import aiohttp
import psycopg
from psycopg import sql

Wanted = list[tuple[int, str, str]]
"""(seq, key, expected value) of every write to read back."""


class Sink(Protocol):
    async def open(self) -> None: ...

    async def write(self, key: str, seq: int, value: str) -> None: ...

    async def read(self, wanted: Wanted) -> dict[int, str]: ...

    async def cleanup(self) -> None: ...

    async def close(self) -> None: ...


def judge(expected: str, values: list[str]) -> str:
    if not values:
        return "missing"
    if any(v != expected for v in values):
        return "corrupted"
    return "duplicated" if len(values) > 1 else "present"


class HttpSink:
    """``PUT <url>/<key>`` (2xx = acknowledged); ``GET`` 200 with the same body = present, 404 = missing."""

    def __init__(self, url: str, run_id: str, concurrency: int = 16):
        self.base, self.run_id = url.rstrip("/"), run_id
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        return self._session

    async def open(self) -> None:
        self._http()

    async def write(self, key: str, seq: int, value: str) -> None:
        async with self._http().put(f"{self.base}/{key}", data=value.encode()) as resp:
            body = await resp.read()
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"HTTP {resp.status}: {body[:120].decode(errors='replace')}")

    async def read(self, wanted: Wanted) -> dict[int, str]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: str, expected: str) -> str:
            async with gate, self._http().get(f"{self.base}/{key}") as resp:
                body = await resp.read()
                if resp.status == 404:
                    return "missing"
                if resp.status != 200:
                    raise RuntimeError(f"read-back of {key}: HTTP {resp.status}")
                return judge(expected, [body.decode(errors="replace")])

        found = await asyncio.gather(*(one(k, v) for _, k, v in wanted))
        return {seq: f for (seq, _, _), f in zip(wanted, found, strict=True)}

    async def cleanup_keys(self, keys: list[str]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: str) -> None:
            async with gate, self._http().delete(f"{self.base}/{key}") as resp:
                await resp.read()

        await asyncio.gather(*(one(k) for k in keys), return_exceptions=True)

    async def cleanup(self) -> None:
        return None          # the writer calls cleanup_keys: HTTP has no "delete by prefix"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class RedisSink:
    """``SET`` / ``GET`` (read back with ``MGET`` in batches); cleanup deletes this run's keys."""

    def __init__(self, url: str, run_id: str, prefix: str, timeout: float):
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.run_id, self.pattern = run_id, f"{prefix}-{run_id}-*"
        # no client-side retries: a write the server never acknowledged must stay unacknowledged
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                              retry=Retry(NoBackoff(), 0), decode_responses=True)

    async def open(self) -> None:
        await self.client.ping()

    async def write(self, key: str, seq: int, value: str) -> None:
        await self.client.set(key, value)

    async def read(self, wanted: Wanted) -> dict[int, str]:
        out: dict[int, str] = {}
        for i in range(0, len(wanted), 500):
            batch = wanted[i:i + 500]
            values = await self.client.mget([k for _, k, _ in batch])
            for (seq, _, expected), got in zip(batch, values, strict=True):
                out[seq] = judge(expected, [] if got is None else [str(got)])
        return out

    async def cleanup(self) -> None:
        keys = [k async for k in self.client.scan_iter(match=self.pattern, count=1000)]
        for i in range(0, len(keys), 500):
            await self.client.delete(*keys[i:i + 500])

    async def close(self) -> None:
        await self.client.aclose()


class PostgresSink:
    """Inserts rows ``(run_id, seq, key, value)`` into a table it creates.

    Each write takes a connection from a small pool; a connection that failed is thrown away
    and the next write connects anew, so a multi-host connection string with
    ``target_session_attrs=read-write`` finds the new primary after a failover.
    """

    max_connections = 8

    def __init__(self, dsn: str, run_id: str, table: str):
        self.dsn, self.run_id = dsn, run_id
        self.table = sql.Identifier(table)
        self.index = sql.Identifier(f"{table}_run_seq")
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._gate = asyncio.Semaphore(self.max_connections)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)

    async def _run(self, query: sql.Composed | sql.SQL, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._gate:
            conn = self._idle.pop() if self._idle else None
            try:
                if conn is None or conn.closed:
                    conn = await self._connect()
                cur = await conn.execute(query, params)
                rows = await cur.fetchall() if cur.description else []
            except BaseException:
                if conn is not None:
                    asyncio.ensure_future(_close_quietly(conn))
                raise
            self._idle.append(conn)
            return rows

    async def open(self) -> None:
        await self._run(sql.SQL("CREATE TABLE IF NOT EXISTS {} (run_id text NOT NULL, seq bigint NOT NULL, "
                                "key text NOT NULL, value text NOT NULL, "
                                "written_at timestamptz NOT NULL DEFAULT clock_timestamp())").format(self.table))
        await self._run(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (run_id, seq)").format(self.index, self.table))

    async def write(self, key: str, seq: int, value: str) -> None:
        await self._run(sql.SQL("INSERT INTO {} (run_id, seq, key, value) VALUES (%s, %s, %s, %s)")
                        .format(self.table), (self.run_id, seq, key, value))

    async def read(self, wanted: Wanted) -> dict[int, str]:
        rows = await self._run(sql.SQL("SELECT seq, value FROM {} WHERE run_id = %s").format(self.table),
                               (self.run_id,))
        by_seq: dict[int, list[str]] = defaultdict(list)
        for seq, value in rows:
            by_seq[int(seq)].append(value)
        return {seq: judge(expected, by_seq.get(seq, [])) for seq, _, expected in wanted}

    async def cleanup(self) -> None:
        await self._run(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(self.table), (self.run_id,))
        left = await self._run(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(self.table))
        if left and not left[0][0]:
            await self._run(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_close_quietly(c) for c in idle))


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - the server may be gone; nothing to do
        pass
