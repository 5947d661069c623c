"""Proxies and the collection of them: listening, starting, stopping, updating, and their toxics.

Semantics follow the real server's ``proxy.go`` / ``proxy_collection.go``:
- ``listen`` of ``host:0`` binds a free port and the proxy then shows the bound address;
- ``update`` restarts the proxy when ``listen`` or ``upstream`` change, then applies ``enabled``;
- stopping (disable, delete, re-point) stops listening, so new connections are refused, and closes
  every live connection — here with SO_LINGER 0 (see ``link.Connection.reset``);
- ``add_or_replace`` (``/populate``) leaves a proxy with the same listen and upstream alone.

One deliberate difference: an empty ``listen`` binds ``127.0.0.1:0`` (loopback), where the real
server binds every interface. Binding elsewhere must be asked for explicitly.
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.proxy.errors import (
    PROXY_ALREADY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_NOT_FOUND,
    ApiError,
    ListenError,
    internal,
)
from chaosrunner.proxy.link import Connection
from chaosrunner.proxy.toxics import DIRECTIONS, ToxicSpec

BACKLOG = 4096
DEFAULT_LISTEN = "127.0.0.1:0"


def split_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``, with its error messages."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1:]
        if not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        return host, rest[1:]
    if ":" not in address:
        raise ValueError(f"address {address}: missing port in address")
    host, port = address.rsplit(":", 1)
    if ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    return host, port


def parse_port(address: str, port: str) -> int:
    if port == "":
        return 0
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {port}: invalid port")
    return int(port)


def format_address(sockaddr: tuple[Any, ...], family: int) -> str:
    if family == socket.AF_INET6:
        return f"[{sockaddr[0]}]:{sockaddr[1]}"
    return f"{sockaddr[0]}:{sockaddr[1]}"


def _go_errno(exc: OSError) -> str:
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def bind_listener(listen: str, backlog: int = BACKLOG) -> tuple[socket.socket, str]:
    """A listening socket for ``listen`` and its bound address; errors read as Go's ``net.Listen``."""
    listen = listen or DEFAULT_LISTEN
    try:
        host, port_text = split_host_port(listen)
        port = parse_port(listen, port_text)
    except ValueError as exc:
        raise ListenError(f"listen tcp: {exc}") from None
    candidates: list[tuple[int, Any]]
    if host == "":
        candidates = [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror:
            raise ListenError(f"listen tcp {listen}: lookup {host}: no such host") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # Go's "tcp" prefers IPv4
        candidates = [(info[0], info[4]) for info in infos[:1]]
    error: OSError | None = None
    for family, sockaddr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and host == "":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
            return sock, format_address(sock.getsockname(), family)
        except OSError as exc:
            sock.close()
            error = exc
            if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL) or host != "":
                break
    assert error is not None
    raise ListenError(f"listen tcp {listen}: bind: {_go_errno(error)}")


@dataclass
class Totals:
    """Byte and connection counters of a proxy (closed connections folded in)."""

    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    connections: int = 0


class Proxy:
    """One proxy: a listener, its live connections and its toxics (per direction, in insertion order)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, listen: str, upstream: str) -> None:
        self.loop = loop
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, list[ToxicSpec]] = {d: [] for d in DIRECTIONS}
        self.connections: set[Connection] = set()
        self.totals = Totals()
        self._server: Any = None
        self._upstream_parsed: tuple[str, tuple[str, int]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxic_list()]}

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.enabled:
            raise internal("Proxy already started")
        sock, bound = bind_listener(self.listen)
        try:
            self._server = await self.loop.create_server(lambda: Connection(self).client, sock=sock,
                                                         backlog=BACKLOG)
        except OSError as exc:
            sock.close()
            raise ListenError(f"listen tcp {self.listen}: {_go_errno(exc)}") from None
        self.listen = bound
        self.enabled = True

    def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            conn.reset()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()

    def upstream_address(self) -> tuple[str, int]:
        cached = self._upstream_parsed
        if cached is not None and cached[0] == self.upstream:
            return cached[1]
        host, port = split_host_port(self.upstream)
        parsed = (host or "127.0.0.1", parse_port(self.upstream, port))
        self._upstream_parsed = (self.upstream, parsed)
        return parsed

    # --- connections --------------------------------------------------------------------------
    def connection_opened(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.totals.connections += 1

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for link in conn.links():
            self.totals.received[link.direction] += link.rx
            self.totals.sent[link.direction] += link.tx

    def byte_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        received, sent = dict(self.totals.received), dict(self.totals.sent)
        for conn in self.connections:
            for link in conn.links():
                received[link.direction] += link.rx
                sent[link.direction] += link.tx
        return received, sent

    def _live_links(self, direction: str) -> list[Any]:
        return [conn.up if direction == "upstream" else conn.down
                for conn in list(self.connections) if conn.ready and not conn.closed]

    # --- toxics -------------------------------------------------------------------------------
    def toxic_list(self) -> list[ToxicSpec]:
        return [t for d in DIRECTIONS for t in self.toxics[d]]

    def toxics_for(self, direction: str) -> list[ToxicSpec]:
        return list(self.toxics[direction])

    def find_toxic(self, name: str) -> ToxicSpec | None:
        for toxic in self.toxic_list():
            if toxic.name == name:
                return toxic
        return None

    def get_toxic(self, name: str) -> ToxicSpec:
        toxic = self.find_toxic(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return toxic

    def add_toxic(self, spec: ToxicSpec) -> None:
        self.toxics[spec.direction].append(spec)
        for link in self._live_links(spec.direction):
            link.add_toxic(spec)

    def update_toxic(self, spec: ToxicSpec) -> None:
        chain = self.toxics[spec.direction]
        for i, toxic in enumerate(chain):
            if toxic.name == spec.name:
                chain[i] = spec
        for link in self._live_links(spec.direction):
            link.update_toxic(spec)

    def remove_toxic(self, name: str) -> None:
        toxic = self.get_toxic(name)
        self.toxics[toxic.direction].remove(toxic)
        for link in self._live_links(toxic.direction):
            link.remove_toxic(name)

    def reset_toxics(self) -> None:
        for toxic in self.toxic_list():
            self.remove_toxic(toxic.name)


class ProxyCollection:
    """All proxies by name; guards names and the start/replace rules."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    async def add(self, proxy: Proxy, start: bool) -> None:
        if proxy.name in self.proxies:
            raise PROXY_ALREADY_EXISTS
        if start:
            await _start(proxy)
        self.proxies[proxy.name] = proxy

    async def add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if existing.listen == proxy.listen and existing.upstream == proxy.upstream:
                return existing
            existing.stop()
        if start:
            await _start(proxy)
        self.proxies[proxy.name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self.proxies[name]

    def clear(self) -> None:
        for proxy in list(self.proxies.values()):
            proxy.stop()
        self.proxies.clear()


async def _start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except ListenError as exc:
        raise internal(str(exc)) from None


def listen_error_to_api(exc: ListenError) -> ApiError:
    return internal(str(exc))
