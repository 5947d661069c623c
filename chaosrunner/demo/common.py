"""What every demo process shares: running an aiohttp app as a service, pid files, JSON replies,
and the few Prometheus text-format metrics the services expose (no client library needed).

A demo component is started as ``python -m chaosrunner.demo.<component> --port N --pidfile F ...``.
It writes its pid file once it listens, removes it on a clean exit (SIGTERM/SIGINT), and prints
one ready line to stdout. Nothing here imports anything heavy: every component starts in well
under a second.
"""
from __future__ import annotations

import asyncio
import bisect
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

READY = "chaosrunner demo: listening on "
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the demo runs without it
        return asyncio.new_event_loop()


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers=headers)


def serve(app: web.Application | Callable[[], Awaitable[web.Application]], host: str, port: int,
          pidfile: str | None, name: str,
          on_start: Callable[[], Awaitable[None]] | None = None,
          on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run ``app`` (or the app a coroutine function builds inside the loop) until SIGTERM/SIGINT.

    The pid file exists exactly while the service listens.
    """

    async def main() -> None:
        application = app if isinstance(app, web.Application) else await app()
        runner = web.AppRunner(application, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024)
        await site.start()
        if on_start is not None:
            await on_start()
        if pidfile:
            write_pidfile(Path(pidfile))
        print(f"{READY}http://{host}:{port} ({name}, pid {os.getpid()})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            if pidfile:
                remove_pidfile(Path(pidfile))
            if on_stop is not None:
                await on_stop()
            await runner.cleanup()

    try:
        with asyncio.Runner(loop_factory=new_loop) as r:
            r.run(main())
    except OSError as exc:
        print(f"error: {name} cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def write_pidfile(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(path)


def remove_pidfile(path: Path) -> None:
    try:
        if int(path.read_text().split()[0]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, IndexError):
        pass


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


class Metrics:
    """Counters, gauges and histograms keyed by (name, labels), rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.help: dict[str, tuple[str, str]] = {}
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], Callable[[], float] | float] = {}
        self.hists: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self.help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0.0) + amount

    def gauge(self, name: str, value: Callable[[], float] | float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        h = self.hists.get(key)
        if h is None:
            h = self.hists[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)  # buckets, +Inf, sum
        h[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        h[-1] += seconds

    def render(self) -> str:
        out: list[str] = []
        seen: set[str] = set()

        def head(name: str) -> None:
            if name not in seen and name in self.help:
                kind, text = self.help[name]
                out.append(f"# HELP {name} {text}")
                out.append(f"# TYPE {name} {kind}")
            seen.add(name)

        for (name, labels), value in sorted(self.counters.items()):
            head(name)
            out.append(f"{name}{_labels(dict(labels))} {value:g}")
        for (name, labels), g in sorted(self.gauges.items(), key=lambda kv: kv[0]):
            head(name)
            v = g() if callable(g) else g
            out.append(f"{name}{_labels(dict(labels))} {v:g}")
        for (name, labels), h in sorted(self.hists.items()):
            head(name)
            cumulative = 0.0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), h[:-1], strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                out.append(f"{name}_bucket{_labels({**dict(labels), 'le': le})} {cumulative:g}")
            out.append(f"{name}_sum{_labels(dict(labels))} {h[-1]:.6f}")
            out.append(f"{name}_count{_labels(dict(labels))} {cumulative:g}")
        return "\n".join(out) + "\n"


def metrics_response(metrics: Metrics) -> web.Response:
    return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


def timed_middleware(metrics: Metrics, metric: str, skip: Iterable[str] = ()) -> Any:
    """Request latency histogram and error counter per route, for every request."""
    skipped = set(skip)

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[..., Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        if route in skipped:
            return await handler(request)
        started = time.perf_counter()
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics.observe(metric, elapsed, route=route, method=request.method)
            metrics.inc("http_requests_total", route=route, method=request.method, code=str(status))
            if status >= 500:
                metrics.inc("http_errors_total", route=route, method=request.method)

    return middleware

