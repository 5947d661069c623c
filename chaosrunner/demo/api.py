"""The demo's API node (one per region): fleet configs over REST, guarded by breakers and shedding.

    python -m chaosrunner.demo.api --name api-r1 --region r1 --port N --store URL --external URL

Routes (priority for load shedding in brackets; an ``X-Priority`` header overrides it):

- ``PUT /configs/{key}`` [high], ``DELETE /configs/{key}`` [high]: the body is stored verbatim in
  the config store; ``GET /configs/{key}`` [medium] returns it (404 when absent).
- ``POST /configs/_batch`` [high]: ``{"get": [keys]}`` → ``{"values": {key: value | null}}``, or
  ``{"delete": [keys]}``; at most 5,000 keys (the integrity writer reads back and cleans up with it).
- ``GET /fleet/status`` [low]: asks the external service; when it fails or its breaker is open the
  answer degrades at once (200, ``"status": "degraded"``, the last known fleet status) instead of
  hanging on the dependency.
- ``GET /health`` [critical]: 200 when the node can serve (its store answers; the result of that
  check is shared for 250 ms), 503 otherwise. ``"degraded"`` when a breaker is open or memory is short.
- ``GET /metrics`` [critical]: Prometheus text: request latency histograms, error counters,
  circuit states, shed and in-flight counts, memory pressure.
- ``POST /admin/memory?mb=N`` / ``DELETE /admin/memory``: hold (or release) N MB of real memory.

Every call to the store or the external service goes through a circuit breaker with a timeout;
a call that met a connection closed by a proxy restart (a failover re-points the store proxy) is
retried once. A controlled switchover of the store is a pause, not an outage: a store call refused
by the demoted primary (503, ``"switchover": true``), or meeting a reset connection or a "not
primary" while one is under way, is held and retried every 50 ms until the new primary takes it,
for at most ``SWITCHOVER_HOLD`` (2 s), and is no breaker failure unless the switchover outlasts
that; ``/health`` stays 200 meanwhile. See ``resilience`` for the breaker, the shedder, the memory
watch and the switchover watch.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from chaosrunner.demo.common import Metrics, metrics_response, reply, serve, timed_middleware
from chaosrunner.demo.resilience import (CircuitBreaker, CircuitOpen, LoadShedder, MemoryHold,
                                         MemoryWatch, SwitchoverWatch)

SWITCHOVER_HOLD = 2.0
"""Seconds a store call may be held through a store switchover (the supervisor gives up on one
after 1.5 s of paused writes, ``supervisor.DRAIN_FOR``); below the router's 3 s per request."""
HOLD_RETRY = 0.05

ROUTE_PRIORITY = {"/configs/{key}": {"GET": "medium", "PUT": "high", "DELETE": "high"},
                  "/configs/_batch": {"POST": "high"},
                  "/fleet/status": {"GET": "low"}, "/health": {"GET": "critical"},
                  "/metrics": {"GET": "critical"}, "/admin/memory": {"POST": "critical", "DELETE": "critical"}}


class DependencyError(Exception):
    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency


class ApiNode:
    def __init__(self, args: argparse.Namespace) -> None:
        self.name, self.region = args.name, args.region
        self.store_url, self.external_url = args.store.rstrip("/"), args.external.rstrip("/")
        self.store_timeout = aiohttp.ClientTimeout(total=args.store_timeout)
        self.external_timeout = aiohttp.ClientTimeout(total=args.external_timeout)
        self.breakers = {"store": CircuitBreaker("store", open_for=args.open_for),
                         "external": CircuitBreaker("external", open_for=args.open_for)}
        self.memory = MemoryWatch(args.memory_budget_mb * 1024 * 1024)
        self.shedder = LoadShedder(args.capacity, self.memory)
        self.hold = MemoryHold()
        self.switchover = SwitchoverWatch(SWITCHOVER_HOLD)
        self.fleet_cache: Any = None
        self._store_ok: tuple[float, bool, str] = (0.0, False, "not checked yet")
        self._store_check: asyncio.Future[None] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.pg = None
        if self.store_url.startswith(("postgresql://", "postgres://")):
            from chaosrunner.demo.pgstore import PgStore

            self.pg = PgStore(self.store_url)
        m = self.metrics = Metrics()
        m.describe("api_request_duration_seconds", "histogram", "request latency by route")
        m.describe("http_requests_total", "counter", "requests by route, method and status code")
        m.describe("http_errors_total", "counter", "requests answered with a 5xx status")
        m.describe("api_dependency_errors_total", "counter", "failed calls to a dependency")
        m.describe("api_circuit_state", "gauge", "circuit breaker state: 0 closed, 0.5 half-open, 1 open")
        m.describe("api_circuit_opened_total", "counter", "times the breaker opened")
        m.describe("api_circuit_rejected_total", "counter", "calls refused by an open breaker")
        m.describe("api_shed_total", "counter", "requests shed (503) by priority")
        m.describe("api_in_flight", "gauge", "requests being served")
        m.describe("api_memory_pressure", "gauge", "memory pressure 0..1 (sheds low priority from 0.6)")
        m.describe("api_store_switchover_held_total", "counter", "store calls held through a store switchover")
        m.describe("api_store_switchover_expired_total", "counter",
                   "held store calls that the switchover outlasted (they failed)")
        for dep, b in self.breakers.items():
            m.gauge("api_circuit_state", b.state_value, dependency=dep)
            m.gauge("api_circuit_opened_total", partial(getattr, b, "opened_total"), dependency=dep)
            m.gauge("api_circuit_rejected_total", partial(getattr, b, "rejected_total"), dependency=dep)
        for prio in self.shedder.shed:
            m.gauge("api_shed_total", partial(self.shedder.shed.__getitem__, prio), priority=prio)
        m.gauge("api_in_flight", lambda: self.shedder.in_flight)
        m.gauge("api_memory_pressure", self.memory.pressure)
        m.gauge("api_memory_rss_bytes", lambda: self.memory.rss)
        m.gauge("api_memory_held_bytes", lambda: self.hold.held_mb() * 1024 * 1024)
        m.gauge("api_store_switchover_held_total", lambda: self.switchover.held_total)
        m.gauge("api_store_switchover_expired_total", lambda: self.switchover.expired_total)

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.pg is not None:
            await self.pg.close()

    async def _send(self, method: str, url: str, data: bytes | None,
                    timeout: aiohttp.ClientTimeout) -> tuple[int, bytes]:
        if self.pg is not None and url.startswith(self.store_url):
            from chaosrunner.demo.pgstore import StoreUnavailable

            try:
                return await asyncio.wait_for(self.pg.request(method, url[len(self.store_url):], data), timeout.total)
            except StoreUnavailable as exc:
                raise aiohttp.ClientError(f"database: {exc}") from exc
        assert self.http is not None
        async with self.http.request(method, url, data=data, timeout=timeout) as resp:
            return resp.status, await resp.read()

    async def _send_twice(self, method: str, url: str, data: bytes | None,
                          timeout: aiohttp.ClientTimeout) -> tuple[int, bytes]:
        """``_send``, once more when the connection was closed under it (a proxy restart)."""
        try:
            return await self._send(method, url, data, timeout)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return await self._send(method, url, data, timeout)

    def _switching_over(self, status: int | None, body: bytes) -> bool:
        """Is this failed store call (``status`` None: no connection) a switchover going on?"""
        if status is None:
            return self.switchover.recent()
        if status != 503:
            return False
        try:
            info = json.loads(body)
        except ValueError:
            return False
        if not isinstance(info, dict):
            return False
        if info.get("switchover"):
            self.switchover.seen()
            return True
        return info.get("error") == "not primary" and self.switchover.recent()

    async def call(self, dependency: str, method: str, url: str, timeout: aiohttp.ClientTimeout,
                   data: bytes | None = None, ok_statuses: tuple[int, ...] = (200, 201, 204, 404)) -> tuple[int, bytes]:
        """One call through the dependency's breaker; DependencyError on failure (CircuitOpen when refused).

        A store call that meets a switchover is held: retried every ``HOLD_RETRY`` s until it
        succeeds, for at most ``SWITCHOVER_HOLD`` s; only a switchover outlasting that fails it."""
        breaker = self.breakers[dependency]
        breaker.before()
        held_until: float | None = None
        attempt_timeout = timeout
        try:
            while True:
                try:
                    status, body = await self._send_twice(method, url, data, attempt_timeout)
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    status, body, failure = None, b"", f"connection failed: {exc}"
                else:
                    if status in ok_statuses:
                        if dependency == "store" and method != "GET":
                            self.switchover.ended()          # a primary took the write
                        break
                    failure = f"HTTP {status}: {body[:200].decode(errors='replace')}"
                if dependency != "store" or not self._switching_over(status, body):
                    raise DependencyError(dependency, failure)
                now = time.monotonic()
                if held_until is None:
                    held_until = now + SWITCHOVER_HOLD
                    self.switchover.held_total += 1
                if now + HOLD_RETRY >= held_until:
                    self.switchover.expired_total += 1
                    raise DependencyError(dependency, f"still switching over after {SWITCHOVER_HOLD:g}s: {failure}")
                await asyncio.sleep(HOLD_RETRY)
                left = held_until - time.monotonic()
                attempt_timeout = aiohttp.ClientTimeout(total=max(HOLD_RETRY, min(timeout.total or left, left)))
        except TimeoutError as exc:
            breaker.failure()
            self.metrics.inc("api_dependency_errors_total", dependency=dependency, kind="timeout")
            raise DependencyError(dependency, f"timed out after {timeout.total}s") from exc
        except (DependencyError, aiohttp.ClientError) as exc:
            breaker.failure()
            self.metrics.inc("api_dependency_errors_total", dependency=dependency, kind="error")
            raise exc if isinstance(exc, DependencyError) else DependencyError(dependency, str(exc)) from exc
        except BaseException:
            breaker.trial_in_flight = False
            raise
        breaker.success()
        return status, body

    async def store_healthy(self) -> tuple[bool, str]:
        """Is the store reachable? One check at a time, its answer shared for 250 ms."""
        at, ok, why = self._store_ok
        if time.monotonic() - at < 0.25:
            return ok, why
        if self._store_check is None or self._store_check.done():
            self._store_check = asyncio.ensure_future(self._check_store())
        await asyncio.shield(self._store_check)
        return self._store_ok[1], self._store_ok[2]

    async def _check_store(self) -> None:
        try:
            code, raw = await self._send("GET", f"{self.store_url}/role", None, aiohttp.ClientTimeout(total=0.5))
            status = json.loads(raw) if code == 200 else {}
            ok = status.get("role") == "primary" and bool(status.get("writable"))
            why = f"store node {status.get('node')} is {status.get('role')}" + ("" if ok else " (not writable)")
            if ok:
                self.switchover.ended()
            elif status.get("draining"):
                self.switchover.seen()
                if self.switchover.lasting() < SWITCHOVER_HOLD:   # requests are held meanwhile: serving
                    ok, why = True, f"store node {status.get('node')} is handing over to a new primary (writes held)"
        except Exception as exc:  # noqa: BLE001 - any failure means "store unreachable"
            ok, why = False, f"store unreachable: {type(exc).__name__} {exc}".strip()
            if self.switchover.recent() and self.switchover.lasting() < SWITCHOVER_HOLD:
                ok, why = True, f"store switching over ({why})"
        self._store_ok = (time.monotonic(), ok, why)


def build_app(node: ApiNode) -> web.Application:
    @web.middleware
    async def shed(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else ""
        priority = request.headers.get("X-Priority") or ROUTE_PRIORITY.get(route, {}).get(request.method, "medium")
        if priority not in ("critical", "high", "medium", "low"):
            priority = "medium"
        if not node.shedder.admit(priority):
            return reply({"error": "overloaded: request shed", "priority": priority, "region": node.region,
                          "utilisation": round(node.shedder.utilisation(), 3)}, 503, {"Retry-After": "1"})
        node.shedder.in_flight += 1
        try:
            return await handler(request)
        finally:
            node.shedder.in_flight -= 1

    app = web.Application(middlewares=[timed_middleware(node.metrics, "api_request_duration_seconds",
                                                        skip=("/metrics",)), shed])
    store_headers = {"X-Region": node.region, "X-Api-Node": node.name}

    def unavailable(exc: Exception) -> web.Response:
        why = "circuit open" if isinstance(exc, CircuitOpen) else str(exc)
        return reply({"error": why, "dependency": getattr(exc, "dependency", str(exc)), "region": node.region},
                     503, store_headers)

    async def put_config(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            _, body = await node.call("store", "PUT", f"{node.store_url}/kv/{key}", node.store_timeout,
                                      data=await request.read(), ok_statuses=(200,))
        except (CircuitOpen, DependencyError) as exc:
            return unavailable(exc)
        return reply({"key": key, **json.loads(body), "region": node.region}, 200, store_headers)

    async def get_config(request: web.Request) -> web.Response:
        try:
            status, body = await node.call("store", "GET", f"{node.store_url}/kv/{request.match_info['key']}",
                                           node.store_timeout)
        except (CircuitOpen, DependencyError) as exc:
            return unavailable(exc)
        return web.Response(body=body, status=status, headers=store_headers)

    async def batch_configs(request: web.Request) -> web.Response:
        """``POST /configs/_batch``: the store's batch read or delete (``{"get"|"delete": [keys]}``)."""
        try:
            status, body = await node.call("store", "POST", f"{node.store_url}/kv/_batch", node.store_timeout,
                                           data=await request.read(), ok_statuses=(200, 400))
        except (CircuitOpen, DependencyError) as exc:
            return unavailable(exc)
        return web.Response(body=body, status=status, content_type="application/json", headers=store_headers)

    async def delete_config(request: web.Request) -> web.Response:
        try:
            await node.call("store", "DELETE", f"{node.store_url}/kv/{request.match_info['key']}",
                            node.store_timeout, ok_statuses=(200,))
        except (CircuitOpen, DependencyError) as exc:
            return unavailable(exc)
        return reply({"deleted": request.match_info["key"]}, 200, store_headers)

    async def fleet_status(request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            _, body = await node.call("external", "GET", f"{node.external_url}/status", node.external_timeout,
                                      ok_statuses=(200,))
            node.fleet_cache = json.loads(body)
            return reply({"status": "ok", "region": node.region, "fleet": node.fleet_cache})
        except (CircuitOpen, DependencyError, ValueError) as exc:
            reason = "circuit open" if isinstance(exc, CircuitOpen) else str(exc)
            return reply({"status": "degraded", "region": node.region, "reason": reason,
                          "fleet": node.fleet_cache, "answered_in": round(time.monotonic() - started, 4)},
                         200, {"X-Degraded": "true"})

    async def health(request: web.Request) -> web.Response:
        ok, why = await node.store_healthy()
        pressure = node.memory.pressure()
        circuits = {d: b.state.value for d, b in node.breakers.items()}
        degraded = any(s != "closed" for s in circuits.values()) or pressure >= 0.25
        body = {"status": "ok" if ok and not degraded else ("degraded" if ok else "unavailable"),
                "node": node.name, "region": node.region, "store": why, "circuits": circuits,
                "memory_pressure": round(pressure, 3), "in_flight": node.shedder.in_flight}
        return reply(body, 200 if ok else 503)

    async def metrics(request: web.Request) -> web.Response:
        return metrics_response(node.metrics)

    async def hold_memory(request: web.Request) -> web.Response:
        try:
            mb = int(request.query.get("mb", "0"))
        except ValueError:
            return reply({"error": "mb must be an integer"}, 400)
        held = node.hold.hold(max(0, min(mb, 16384)))
        node.memory.sample()
        return reply({"held_mb": held, "rss": node.memory.rss, "memory_pressure": node.memory.pressure()})

    async def release_memory(request: web.Request) -> web.Response:
        node.hold.release()
        node.memory.sample()
        return reply({"held_mb": 0, "rss": node.memory.rss, "memory_pressure": node.memory.pressure()})

    app.add_routes([web.post("/configs/_batch", batch_configs),
                    web.put("/configs/{key}", put_config), web.get("/configs/{key}", get_config),
                    web.delete("/configs/{key}", delete_config), web.get("/fleet/status", fleet_status),
                    web.get("/health", health), web.get("/metrics", metrics),
                    web.post("/admin/memory", hold_memory), web.delete("/admin/memory", release_memory)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.api", description=__doc__.split("\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--store", required=True,
                   help="config store URL (through the proxy), or a postgresql:// DSN (see pgstore)")
    p.add_argument("--external", required=True, help="external service URL (through the proxy)")
    p.add_argument("--store-timeout", type=float, default=1.0)
    p.add_argument("--external-timeout", type=float, default=0.5)
    p.add_argument("--open-for", type=float, default=2.0, help="seconds a breaker stays open before a trial")
    p.add_argument("--capacity", type=int, default=200, help="in-flight requests at 100 %% utilisation")
    p.add_argument("--memory-budget-mb", type=int, default=512, help="RSS at which this node counts as full")
    p.add_argument("--pidfile")
    p.add_argument("--dir", help="the demo directory (lets `demo down` find this process)")
    args = p.parse_args(argv)
    node = ApiNode(args)

    async def make() -> web.Application:
        return build_app(node)

    serve(make, args.host, args.port, args.pidfile, args.name, on_start=node.start, on_stop=node.stop)


if __name__ == "__main__":
    main()
