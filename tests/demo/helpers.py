"""Helpers for the demo tests: small HTTP calls, a sequenced writer, the Toxiproxy API."""
from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any

import aiohttp
import psutil
from support import wait_until as wait_until  # shared by the whole suite; the demo tests import it from here


def http(method: str, url: str, body: Any = None, timeout: float = 3.0) -> tuple[int, bytes, dict[str, str]]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def get_json(url: str, timeout: float = 3.0) -> Any:
    status, body, _ = http("GET", url, timeout=timeout)
    assert status == 200, (url, status, body)
    return json.loads(body)


#: what a condition polling a demo server over HTTP may raise before the state it waits for:
#: refused/reset/timed-out connections (OSError, URLError among them), a reply cut short
#: (HTTPException), a non-200 reply (get_json asserts 200), a field not yet in the reply (KeyError)
HTTP_NOT_YET: tuple[type[BaseException], ...] = (OSError, HTTPException, AssertionError, KeyError)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    line_start = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    return None


async def sequenced_writes(base: str, stop: asyncio.Event, concurrency: int = 4) -> list[tuple[int, str, str]]:
    """Write key-<seq> = value-<seq> through ``base`` until stopped; the acknowledged (seq, key, value)."""
    acked: list[tuple[int, str, str]] = []
    counter = iter(range(10**9))
    async with aiohttp.ClientSession() as session:
        async def worker() -> None:
            while not stop.is_set():
                seq = next(counter)
                key, value = f"w-{seq}", f"value-{seq}"
                try:
                    async with session.put(f"{base}/configs/{key}", data=value,
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        await resp.read()
                        if resp.status == 200:
                            acked.append((seq, key, value))
                            continue
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.02)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acked


async def read_back(base: str, wanted: list[tuple[int, str, str]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"present": [], "missing": [], "corrupted": []}
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:
        async def one(seq: int, key: str, value: str) -> None:
            # right after a failover an API node's store breaker may still be open (503) until its
            # half-open trial succeeds: that is "not yet", not an answer, so ask again
            deadline = time.monotonic() + 15
            while True:
                async with gate, session.get(f"{base}/configs/{key}") as resp:
                    body = await resp.text()
                    status = resp.status
                if status != 503 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert status in (200, 404), (status, body)
            out["missing" if status == 404 else "present" if body == value else "corrupted"].append(seq)

        await asyncio.gather(*(one(*w) for w in wanted))
    return out


def demo_processes(demo_dir: Any) -> list[psutil.Process]:
    d = str(demo_dir)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if proc.pid != os.getpid() and proc.info["status"] != psutil.STATUS_ZOMBIE and \
                any(d == a or a.startswith(d + "/") for a in cmd):
            found.append(proc)
    return found


def listening(port: int) -> bool:
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
               for c in psutil.net_connections("tcp4"))
