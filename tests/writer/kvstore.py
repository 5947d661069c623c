"""A real local HTTP key-value store for writer and role tests, scriptable while it runs.

``PUT /kv/<key>`` stores the body (204), ``GET`` returns it (404 when absent), ``DELETE``
removes it. ``mode`` scripts misbehaviour: ``"drop"`` acknowledges writes without storing them
(the store loses acknowledged data), ``"down"`` answers 503, ``"corrupt"`` stores an altered
value. ``GET /primary`` answers ``primary`` (text) and ``GET /cluster`` JSON for role probes.
"""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from support import free_port


class KvStore:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data: dict[str, str] = {}
        self.mode = "ok"
        self.primary = "node-a"
        self.dropped: list[str] = []          # keys acknowledged but not stored
        self.refused: list[str] = []
        self.puts = 0                         # PUTs handled, whatever the mode
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> KvStore:
        self._thread.start()
        assert self._ready.wait(30), "the key-value test store did not start within 30 s"
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_put("/kv/{key}", self._put)
        app.router.add_get("/kv/{key}", self._get)
        app.router.add_delete("/kv/{key}", self._delete)
        app.router.add_get("/primary", self._primary)
        app.router.add_get("/cluster", self._cluster)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    async def _put(self, request: web.Request) -> web.Response:
        key, body = request.match_info["key"], await request.text()
        self.puts += 1
        if self.mode == "down":
            self.refused.append(key)
            return web.Response(status=503, text="down")
        if self.mode == "drop":
            self.dropped.append(key)
        else:
            self.data[key] = body + ("!" if self.mode == "corrupt" else "")
        return web.Response(status=204)

    async def _get(self, request: web.Request) -> web.Response:
        if self.mode == "down":
            return web.Response(status=503)
        value = self.data.get(request.match_info["key"])
        return web.Response(status=404) if value is None else web.Response(text=value)

    async def _primary(self, request: web.Request) -> web.Response:
        return web.Response(text=self.primary + "\n")

    async def _cluster(self, request: web.Request) -> web.Response:
        return web.json_response({"cluster": {"leader": self.primary}})

    async def _delete(self, request: web.Request) -> web.Response:
        self.data.pop(request.match_info["key"], None)
        return web.Response(status=204)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
