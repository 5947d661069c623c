"""Test helpers: a real asyncio upstream (echo, or a tiny HTTP server) in a thread, an API session, sockets."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import requests

HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _UpstreamProtocol(asyncio.Protocol):
    """Echoes bytes back; answers each HTTP GET request with ``ok``; closes on EOF."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.http = None

    def data_received(self, data):
        if self.http is None:
            self.http = data.startswith(b"GET ")
        if not self.http:
            self.transport.write(data)
            return
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _request, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(HTTP_RESPONSE)

    def eof_received(self):
        return False


class Upstream:
    """A real upstream on a free loopback port, served by its own event loop in a thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(_UpstreamProtocol, "127.0.0.1", 0, backlog=2048))
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10), "the upstream's event loop did not start serving"
        self.port = self.server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Api(requests.Session):
    """A requests session whose paths are relative to the API's URL; every call has a timeout."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url
        self.trust_env = False

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base_url + url, *args, **kwargs)


def connect(addr, timeout=5.0) -> socket.socket:
    sock = socket.create_connection(addr, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for ``payload`` to come back through the echo upstream."""
    start = time.monotonic()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - start


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, str]:
    """All bytes until the peer closes: (data, "eof" | "reset" | "timeout")."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "timeout"
