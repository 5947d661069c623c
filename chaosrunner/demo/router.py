"""The demo's router: the front door that sends every request to a healthy region.

    python -m chaosrunner.demo.router --port N --region r1=URL --region r2=URL

Regions are given in order of preference, each by its API node's URL through the proxy. Every
250 ms the router asks each region's ``GET /health`` (400 ms timeout); two failed checks in a row
mark a region down, two good ones up again. Requests go to the first region that is up (the
first region when none is); a request that cannot even connect is retried once on the next
region that is up. Traffic returns to a preferred region as soon as it is up again.

Its own endpoints live under ``/_router/``: ``status`` (JSON: active region, each region's
health), ``health``, ``metrics`` (``router_region_failovers_total``, ``router_active_region``, ...).
Everything else is forwarded.
"""
from __future__ import annotations

import argparse
import asyncio
import time
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from chaosrunner.demo.common import Metrics, metrics_response, reply, serve

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "upgrade",
               "proxy-connection", "te", "trailer"}


class Region:
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url.rstrip("/")
        self.up: bool | None = None      # unknown until its first check
        self.fails = 0
        self.oks = 0
        self.last_error = ""
        self.changed_at = time.time()


class Router:
    def __init__(self, regions: list[Region], interval: float, check_timeout: float, timeout: float) -> None:
        self.regions, self.interval = regions, interval
        self.check_timeout = aiohttp.ClientTimeout(total=check_timeout)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.active = regions[0]
        self.failovers = 0
        self.http: aiohttp.ClientSession | None = None
        self._checker: asyncio.Task[None] | None = None
        m = self.metrics = Metrics()
        m.describe("router_region_failovers_total", "counter", "times traffic moved to another region")
        m.describe("router_region_up", "gauge", "1 when the region passes its health checks")
        m.describe("router_active_region", "gauge", "1 for the region that receives traffic")
        m.describe("router_request_duration_seconds", "histogram", "forwarded request latency by region")
        m.gauge("router_region_failovers_total", lambda: self.failovers)
        for r in regions:
            m.gauge("router_region_up", partial(self._is_up, r), region=r.name)
            m.gauge("router_active_region", partial(self._is_active, r), region=r.name)

    @staticmethod
    def _is_up(region: Region) -> float:
        return float(bool(region.up))

    def _is_active(self, region: Region) -> float:
        return float(self.active is region)

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512, keepalive_timeout=30),
                                          auto_decompress=False)
        self._checker = asyncio.get_running_loop().create_task(self._check_loop())

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
        if self.http is not None:
            await self.http.close()

    async def _check(self, region: Region) -> None:
        assert self.http is not None
        try:
            async with self.http.get(f"{region.url}/health", timeout=self.check_timeout) as resp:
                await resp.read()
                ok, error = resp.status == 200, f"HTTP {resp.status}"
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check
            ok, error = False, f"{type(exc).__name__}: {exc}"
        if ok:
            region.fails, region.oks = 0, region.oks + 1
            if region.up is None or (not region.up and region.oks >= 2):
                region.up, region.changed_at = True, time.time()
        else:
            region.oks, region.fails, region.last_error = 0, region.fails + 1, error
            if region.up is not False and region.fails >= 2:
                region.up, region.changed_at = False, time.time()
        self._choose()

    def _choose(self) -> None:
        best = next((r for r in self.regions if r.up), self.regions[0])
        if best is not self.active:
            if self.active.up is False:      # moving away from a failed region (not a startup race)
                self.failovers += 1
            self.active = best

    async def _check_loop(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.gather(*(self._check(r) for r in self.regions))
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def status(self) -> dict[str, Any]:
        return {"active": self.active.name, "failovers": self.failovers,
                "regions": {r.name: {"url": r.url, "up": r.up, "last_error": r.last_error,
                                     "since": r.changed_at} for r in self.regions}}

    async def forward(self, request: web.Request) -> web.StreamResponse:
        assert self.http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        tried: list[str] = []
        error = ""
        candidates = [self.active] + [r for r in self.regions if r is not self.active and r.up]
        for region in candidates[:2]:
            tried.append(region.name)
            started = time.perf_counter()
            try:
                async with self.http.request(request.method, region.url + request.rel_url.raw_path_qs,
                                             data=body or None, headers=headers, timeout=self.timeout,
                                             allow_redirects=False) as resp:
                    payload = await resp.read()
                    out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
                out["X-Routed-To"] = region.name
                self.metrics.observe("router_request_duration_seconds", time.perf_counter() - started,
                                     region=region.name)
                return web.Response(body=payload, status=resp.status, headers=out)
            except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            except TimeoutError:
                return reply({"error": f"region {region.name} did not answer in {self.timeout.total}s"}, 504,
                             {"X-Routed-To": region.name})
        return reply({"error": f"no region reachable (tried {', '.join(tried)}): {error}"}, 502)


def build_app(router: Router) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)

    async def status(request: web.Request) -> web.Response:
        return reply(router.status())

    async def health(request: web.Request) -> web.Response:
        return reply({"status": "ok", "active": router.active.name})

    async def metrics(request: web.Request) -> web.Response:
        return metrics_response(router.metrics)

    app.add_routes([web.get("/_router/status", status), web.get("/_router/health", health),
                    web.get("/_router/metrics", metrics), web.route("*", "/{tail:.*}", router.forward)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.router", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--region", action="append", required=True, metavar="NAME=URL",
                   help="a region and its API URL (through the proxy), in order of preference")
    p.add_argument("--interval", type=float, default=0.25)
    p.add_argument("--check-timeout", type=float, default=0.4)
    p.add_argument("--timeout", type=float, default=3.0, help="per forwarded request")
    p.add_argument("--pidfile")
    p.add_argument("--dir", help="the demo directory (lets `demo down` find this process)")
    args = p.parse_args(argv)
    regions = [Region(*spec.split("=", 1)) for spec in args.region]
    router = Router(regions, args.interval, args.check_timeout, args.timeout)

    async def make() -> web.Application:
        return build_app(router)

    serve(make, args.host, args.port, args.pidfile, "router", on_start=router.start, on_stop=router.stop)


if __name__ == "__main__":
    main()
