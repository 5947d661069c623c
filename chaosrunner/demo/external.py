"""The demo's external service: a small dependency the API nodes call for ``GET /fleet/status``.

    python -m chaosrunner.demo.external --port N

``GET /status`` answers a fleet summary (it stands in for a third-party inventory service);
``GET /health`` answers ok. It has no faults of its own: faults reach it through its proxy
(``external_service``), as they would reach a real dependency over the network.
"""
from __future__ import annotations

import argparse
import time

from aiohttp import web

from chaosrunner.demo.common import Metrics, metrics_response, reply, serve, timed_middleware


def build_app(started: float) -> web.Application:
    metrics = Metrics()
    metrics.describe("external_request_duration_seconds", "histogram", "request latency by route")
    app = web.Application(middlewares=[timed_middleware(metrics, "external_request_duration_seconds")])
    calls = {"n": 0}

    async def status(request: web.Request) -> web.Response:
        calls["n"] += 1
        return reply({"envoys": 48, "healthy": 48, "config_version": calls["n"],
                      "uptime_s": round(time.monotonic() - started, 1)})

    async def health(request: web.Request) -> web.Response:
        return reply({"status": "ok"})

    async def get_metrics(request: web.Request) -> web.Response:
        return metrics_response(metrics)

    app.add_routes([web.get("/status", status), web.get("/health", health), web.get("/metrics", get_metrics)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.external", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pidfile")
    p.add_argument("--dir", help="the demo directory (lets `demo down` find this process)")
    args = p.parse_args(argv)
    serve(build_app(time.monotonic()), args.host, args.port, args.pidfile, "external-service")


if __name__ == "__main__":
    main()
