"""Where the writer's writes land: an HTTP key-value API, a PostgreSQL table or Redis.

A sink is five coroutines: ``open()`` (prepare, e.g. create the table), ``write(key, seq,
value)`` (returns once the store acknowledged; raises otherwise), ``read(wanted)`` (what became
of each write: ``present`` | ``missing`` | ``corrupted`` | ``duplicated``; raises when the store
cannot answer, and the writer retries), ``cleanup_keys(keys)`` and ``close()``. The writer bounds
every call with its timeout; a sink never retries a write itself (a retried write is a different
measurement).

Read-back and clean-up scale with the number of writes (an hour at 50/s is 180,000): in bulk where
the store has a bulk form — PostgreSQL reads and deletes ranges (``seq BETWEEN``), Redis ``MGET``
and ``UNLINK`` batches, HTTP a batch endpoint (``POST <url>/_batch`` with ``{"get": [keys]}`` or
``{"delete": [keys]}``, as the demo offers) — and with a bounded number of those in flight
(``PARALLEL``); an HTTP target without a batch endpoint (404, 405 or 501 to it) is read key by
key, ``concurrency`` at a time.
"""
from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import aiohttp
import psycopg
from psycopg import sql

Wanted = list[tuple[int, str, str]]
"""(seq, key, expected value) of every write to read back."""

PARALLEL = 4
"""Bulk requests in flight at once, per read-back or clean-up: enough to hide a round trip, few
enough to leave a store that has just recovered its capacity for the system's own traffic."""

T = TypeVar("T")
U = TypeVar("U")


async def bounded(items: Sequence[T], size: int, work: Callable[[Sequence[T]], Awaitable[U]],
                  parallel: int = PARALLEL) -> list[U]:
    """``work`` over ``items`` in chunks of ``size``, at most ``parallel`` at once, results in order."""
    gate = asyncio.Semaphore(parallel)

    async def one(chunk: Sequence[T]) -> U:
        async with gate:
            return await work(chunk)

    return list(await asyncio.gather(*(one(items[i:i + size]) for i in range(0, len(items), size))))


class Sink(Protocol):
    async def open(self) -> None: ...

    async def write(self, key: str, seq: int, value: str) -> None: ...

    async def read(self, wanted: Wanted) -> dict[int, str]: ...

    async def cleanup_keys(self, keys: list[str]) -> None: ...

    async def close(self) -> None: ...


def judge(expected: str, values: list[str]) -> str:
    if not values:
        return "missing"
    if any(v != expected for v in values):
        return "corrupted"
    return "duplicated" if len(values) > 1 else "present"


class _NoBatch(Exception):
    """The HTTP target has no batch endpoint."""


class HttpSink:
    """``PUT <url>/<key>`` (2xx = acknowledged); ``GET`` 200 with the same body = present, 404 = missing.
    Read-back and clean-up through ``POST <url>/_batch`` when the target offers it."""

    batch_size = 2000

    def __init__(self, url: str, run_id: str, concurrency: int = 32):
        self.base, self.run_id = url.rstrip("/"), run_id
        self.concurrency = concurrency
        self.batched: bool | None = None            # the target has a batch endpoint (None: not asked yet)
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

    async def _batch(self, what: str, keys: Sequence[str]) -> dict[str, Any]:
        async with self._http().post(f"{self.base}/_batch", json={what: list(keys)}) as resp:
            body = await resp.read()
            if resp.status in (404, 405, 501):
                raise _NoBatch
            if resp.status != 200:
                raise RuntimeError(f"batch {what} of {len(keys)} keys: HTTP {resp.status}: "
                                   f"{body[:120].decode(errors='replace')}")
            answer: dict[str, Any] = json.loads(body)
            return answer

    async def _bulk(self, what: str, keys: Sequence[str]) -> list[dict[str, Any]] | None:
        """Every chunk through the batch endpoint; None when the target has none (then remembered)."""
        if self.batched is False:
            return None
        try:
            if self.batched is None:               # ask once, then in parallel
                first = await self._batch(what, keys[:self.batch_size])
                self.batched = True
                rest = await bounded(keys[self.batch_size:], self.batch_size, lambda c: self._batch(what, c))
                return [first, *rest]
            return await bounded(keys, self.batch_size, lambda c: self._batch(what, c))
        except _NoBatch:
            self.batched = False
            return None

    async def read(self, wanted: Wanted) -> dict[int, str]:
        answers = await self._bulk("get", [k for _, k, _ in wanted]) if wanted else []
        if answers is not None:
            values: dict[str, str | None] = {}
            for a in answers:
                values.update(a.get("values", {}))
            return {seq: judge(expected, [] if values.get(key) is None else [str(values[key])])
                    for seq, key, expected in wanted}
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
        if keys and await self._bulk("delete", keys) is not None:
            return
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: str) -> None:
            async with gate, self._http().delete(f"{self.base}/{key}") as resp:
                await resp.read()

        await asyncio.gather(*(one(k) for k in keys), return_exceptions=True)

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
        async def chunk(batch: Sequence[tuple[int, str, str]]) -> list[tuple[int, str]]:
            values = await self.client.mget([k for _, k, _ in batch])
            return [(seq, judge(expected, [] if got is None else [str(got)]))
                    for (seq, _, expected), got in zip(batch, values, strict=True)]

        return {seq: f for part in await bounded(wanted, 2000, chunk) for seq, f in part}

    async def cleanup_keys(self, keys: list[str]) -> None:
        """``UNLINK`` the writes (in batches), then whatever else of this run's prefix is left."""
        async def chunk(batch: Sequence[str]) -> None:
            await self.client.unlink(*batch)

        await bounded(keys, 2000, chunk)
        left = [k async for k in self.client.scan_iter(match=self.pattern, count=1000)]
        await bounded(left, 2000, chunk)

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

    range_size = 50_000

    def _ranges(self, seqs: Sequence[int]) -> list[tuple[int, int]]:
        lo, hi = (min(seqs), max(seqs)) if seqs else (0, -1)
        return [(a, min(a + self.range_size - 1, hi)) for a in range(lo, hi + 1, self.range_size)]

    async def read(self, wanted: Wanted) -> dict[int, str]:
        query = sql.SQL("SELECT seq, value FROM {} WHERE run_id = %s AND seq BETWEEN %s AND %s").format(self.table)

        async def one(span: Sequence[tuple[int, int]]) -> list[tuple[Any, ...]]:
            (lo, hi), = span
            return await self._run(query, (self.run_id, lo, hi))

        by_seq: dict[int, list[str]] = defaultdict(list)
        for rows in await bounded(self._ranges([seq for seq, _, _ in wanted]), 1, one):
            for seq, value in rows:
                by_seq[int(seq)].append(value)
        return {seq: judge(expected, by_seq.get(seq, [])) for seq, _, expected in wanted}

    async def cleanup_keys(self, keys: list[str]) -> None:
        """Delete this run's rows, a range of ``seq`` at a time, then the table when nothing else is in it."""
        query = sql.SQL("DELETE FROM {} WHERE run_id = %s AND seq BETWEEN %s AND %s").format(self.table)
        seqs = [int(k.rsplit("-", 1)[1]) for k in keys if k.rsplit("-", 1)[-1].isdigit()]

        async def one(span: Sequence[tuple[int, int]]) -> None:
            (lo, hi), = span
            await self._run(query, (self.run_id, lo, hi))

        await bounded(self._ranges(seqs), 1, one)
        await self._run(sql.SQL("DELETE FROM {} WHERE run_id = %s").format(self.table), (self.run_id,))   # any other
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
