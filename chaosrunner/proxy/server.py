"""The fault proxy server as a Python object: in an event loop, or in a background thread.

    server = ProxyServer("127.0.0.1", 0)          # async: await server.start() / await server.stop()
    handle = start_in_thread(port=0)              # sync: handle.api_url, handle.stop(), or `with`

uvloop is used for loops this module creates when it is importable. For a separate process see
``chaosrunner.proxy.process``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

from chaosrunner.proxy.errors import ApiError
from chaosrunner.proxy.proxy import Proxy, bind_listener

log = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProxyServer:
    """The Toxiproxy-compatible API on ``host:port`` (0 = a free port) and every proxy it manages."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, *, metrics: bool = False,
                 config: str | Path | None = None) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.config = Path(config) if config else None
        self.api: Any = None
        self._runner: Any = None

    @property
    def api_url(self) -> str:
        return f"http://{join_host_port(self.host, self.port)}"

    async def start(self) -> None:
        """Listen (raises ``ListenError`` with Go's message, e.g. on a port in use), then load ``config``."""
        from aiohttp import web

        from chaosrunner.proxy.api import Api
        from chaosrunner.proxy.httpserver import make_runner

        loop = asyncio.get_running_loop()
        sock, _bound = bind_listener(join_host_port(self.host, self.port), backlog=1024)
        self.port = sock.getsockname()[1]
        self.api = Api(loop, metrics_enabled=self.metrics)
        self._runner = make_runner(self.api.dispatch)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=1024).start()
        if self.config is not None:
            await self.populate_file(self.config)

    async def populate_file(self, path: Path) -> list[Proxy]:
        """Create the proxies of a JSON file (the ``-config`` file); errors are logged, as the real server does."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            log.error("Error reading config file %s: %s", path, exc)
            return []
        try:
            proxies, error = await self.api.populate_items(self.api._decode_populate(raw))
        except ApiError as exc:
            proxies, error = [], exc
        if error is not None:
            log.error("Failed to populate proxies from file %s: %s", path, error.message)
        else:
            log.info("Populated %d proxies from file %s", len(proxies), path)
        return proxies

    async def stop(self) -> None:
        """Stop every proxy (closing its connections) and the API."""
        if self.api is not None:
            self.api.collection.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def proxies(self) -> dict[str, dict[str, Any]]:
        """The proxies as the API shows them (call on the server's loop)."""
        return {name: p.to_json() for name, p in self.api.collection.proxies.items()}


class ThreadedProxyServer:
    """A :class:`ProxyServer` running on its own event loop in a daemon thread."""

    def __init__(self, server: ProxyServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.server = server
        self.loop = loop
        self.thread = thread

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            return
        try:
            self.call(self.server.stop(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)

    def __enter__(self) -> ThreadedProxyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ThreadedProxyServer {self.api_url}>"


def start_in_thread(host: str = "127.0.0.1", port: int = 0, *, metrics: bool = False,
                    config: str | Path | None = None, timeout: float = 10.0) -> ThreadedProxyServer:
    """Start a server in a background thread and return once it listens (errors are raised here)."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        server = ProxyServer(host, port, metrics=metrics, config=config)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            box["error"] = exc
            ready.set()
            loop.close()
            return
        box["server"], box["loop"] = server, loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    thread = threading.Thread(target=run, name="chaosrunner-proxy", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError(f"the proxy server did not start within {timeout} s")
    if "error" in box:
        raise box["error"]
    return ThreadedProxyServer(box["server"], box["loop"], thread)


def dump_config(proxies: list[dict[str, Any]], path: str | Path) -> None:
    """Write a ``-config`` file: a JSON array of ``{name, listen, upstream[, enabled]}``."""
    Path(path).write_text(json.dumps(proxies, indent=2) + "\n", encoding="utf-8")
