"""A small HTTP service for load tests: every path answers 200 after an adjustable delay.

``POST /_delay?ms=N`` sets the delay; ``/fail`` answers 500; ``/metrics`` serves Prometheus text
with a gauge whose value ``POST /_gauge?value=X`` sets. Run: ``python delay_server.py PORT``.
"""
import asyncio
import sys

from aiohttp import web

state = {"delay": 0.0, "gauge": 1.0, "hits": 0}


async def control_delay(request: web.Request) -> web.Response:
    state["delay"] = float(request.query.get("ms", "0")) / 1000.0
    return web.Response(text="ok")


async def control_gauge(request: web.Request) -> web.Response:
    state["gauge"] = float(request.query["value"])
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    text = ("# HELP demo_queue_depth A gauge the tests set.\n# TYPE demo_queue_depth gauge\n"
            f"demo_queue_depth{{shard=\"a\"}} {state['gauge']}\n"
            f"demo_queue_depth{{shard=\"b\"}} {state['gauge'] / 2}\n"
            "# TYPE demo_requests_total counter\n"
            f"demo_requests_total {state['hits']}\n")
    return web.Response(text=text, content_type="text/plain")


async def fail(request: web.Request) -> web.Response:
    return web.Response(status=500, text="fail")


async def anything(request: web.Request) -> web.Response:
    state["hits"] += 1
    if state["delay"]:
        await asyncio.sleep(state["delay"])
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/_delay", control_delay)
    app.router.add_post("/_gauge", control_gauge)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/fail", fail)
    app.router.add_route("*", "/{tail:.*}", anything)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
