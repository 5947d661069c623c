"""A switchover drill: controlled switchovers of the store under steady traffic, as a client sees them.

    from chaosrunner.demo.drill import switchover_drill
    drill = asyncio.run(switchover_drill(demo.url("router"), demo.url("supervisor"), switchovers=6))
    drill.failed, drill.longest_pause, drill.missing

Writers ``PUT /configs/drill-<n>`` (a new key each time) and readers ``GET`` a key already
acknowledged, all through the router, each with a short gap between its requests, while the
supervisor is asked (``POST /switchover?candidate=...``) to move the primary to ``store-b``, then
back to ``store-a``, and so on. Every request is recorded (kind, start, latency, status). Once the
traffic stops, every acknowledged write is read back. A switchover is a pause when no request
failed, none is missing afterwards, and ``longest_pause`` (the longest request overlapping a
switchover) stays within the API nodes' hold bound (``api.SWITCHOVER_HOLD``).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from itertools import count

import aiohttp

NODES = ("store-b", "store-a")


@dataclass
class Request:
    kind: str            # "PUT" or "GET"
    key: str
    started: float       # time.monotonic()
    latency: float
    status: int          # -1: no HTTP answer (the error is in detail)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Switchover:
    candidate: str
    started: float
    took: float
    status: int
    message: str


@dataclass
class Drill:
    requests: list[Request] = field(default_factory=list)
    switchovers: list[Switchover] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)       # acknowledged, absent or different afterwards

    @property
    def failed(self) -> list[Request]:
        return [r for r in self.requests if not r.ok]

    def during_switchovers(self) -> list[Request]:
        """The requests that overlapped a switchover (from its POST to its answer)."""
        return [r for r in self.requests
                if any(r.started <= s.started + s.took and r.started + r.latency >= s.started
                       for s in self.switchovers)]

    @property
    def longest_pause(self) -> float:
        return max((r.latency for r in self.during_switchovers()), default=0.0)

    def summary(self) -> str:
        return (f"{len(self.switchovers)} switchovers, {len(self.requests)} requests "
                f"({len(self.during_switchovers())} during a switchover), {len(self.failed)} failed, "
                f"{len(self.missing)} acknowledged writes missing, longest pause {self.longest_pause * 1000:.0f} ms")


async def switchover_drill(router: str, supervisor: str, *, switchovers: int = 6, writers: int = 4,
                           readers: int = 2, gap: float = 0.02, settle: float = 1.5,
                           timeout: float = 10.0) -> Drill:
    """Run the drill: ``settle`` s of traffic, then each switchover followed by ``settle`` s more."""
    drill = Drill()
    stop = asyncio.Event()
    numbers = count()
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async with aiohttp.ClientSession() as http:
        async def one(kind: str, key: str, body: str | None) -> Request:
            started = time.monotonic()
            try:
                async with http.request(kind, f"{router}/configs/{key}", data=body, timeout=client_timeout) as resp:
                    status, text = resp.status, await resp.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, text = -1, f"{type(exc).__name__}: {exc}"
            request = Request(kind, key, started, time.monotonic() - started, status)
            if kind == "GET" and status == 200 and text != drill.acked.get(key):
                request.status, request.detail = -2, f"read {text[:80]!r}, acknowledged {drill.acked.get(key)!r}"
            elif status != 200:
                request.detail = text[:300]
            drill.requests.append(request)
            return request

        async def writer() -> None:
            while not stop.is_set():
                n = next(numbers)
                key, value = f"drill-{n}", f"value-{n}"
                if (await one("PUT", key, value)).ok:
                    drill.acked[key] = value
                await asyncio.sleep(gap)

        async def reader() -> None:
            while not stop.is_set():
                if drill.acked:
                    await one("GET", next(reversed(drill.acked)), None)   # the latest acknowledged write
                await asyncio.sleep(gap)

        traffic = [asyncio.ensure_future(writer()) for _ in range(writers)] + \
                  [asyncio.ensure_future(reader()) for _ in range(readers)]
        try:
            await asyncio.sleep(settle)
            for i in range(switchovers):
                candidate = NODES[i % 2]
                started = time.monotonic()
                try:
                    async with http.post(f"{supervisor}/switchover?candidate={candidate}&wait=30",
                                         timeout=aiohttp.ClientTimeout(total=40)) as resp:
                        status, text = resp.status, await resp.text()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, text = -1, f"{type(exc).__name__}: {exc}"
                try:
                    message = json.loads(text).get("message", text)
                except (ValueError, AttributeError):
                    message = text
                drill.switchovers.append(Switchover(candidate, started, time.monotonic() - started, status,
                                                    str(message)[:300]))
                await asyncio.sleep(settle)
        finally:
            stop.set()
            await asyncio.gather(*traffic)

        gate = asyncio.Semaphore(16)

        async def check(key: str, value: str) -> None:
            async with gate, http.get(f"{router}/configs/{key}", timeout=client_timeout) as resp:
                if resp.status != 200 or await resp.text() != value:
                    drill.missing.append(key)

        await asyncio.gather(*(check(k, v) for k, v in drill.acked.items()))
    return drill
