"""A stand-in for the seed's API servers, on loopback: ``/health`` answers 200 and ``/metrics`` serves the
Prometheus histogram ``http_request_duration_seconds`` of the requests it served. It sends itself a
request every 50 ms, so that Prometheus' rate() of the histogram (the default PromQL of the seed's
``p99_latency`` probe) has data. Run: ``python api_app.py PORT``.
"""
import asyncio
import bisect
import sys
import time

import aiohttp
from aiohttp import web

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
counts = [0] * (len(BUCKETS) + 1)
total = {"sum": 0.0, "count": 0}


@web.middleware
async def timed(request: web.Request, handler):
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        if request.path != "/metrics":
            took = time.perf_counter() - started
            counts[bisect.bisect_left(BUCKETS, took)] += 1
            total["sum"] += took
            total["count"] += 1


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    lines = ["# TYPE http_request_duration_seconds histogram"]
    running = 0
    for le, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
        running += n
        lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {running}')
    lines += [f"http_request_duration_seconds_sum {total['sum']}",
              f"http_request_duration_seconds_count {total['count']}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def traffic(app: web.Application):
    async def loop() -> None:
        async with aiohttp.ClientSession() as s:
            while True:
                try:
                    async with s.get(f"http://127.0.0.1:{sys.argv[1]}/health") as r:
                        await r.read()
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    yield
    task.cancel()


def main() -> None:
    app = web.Application(middlewares=[timed])
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(traffic)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
