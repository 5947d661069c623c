"""The state the API fuzzers start every example from, and the checks that the server is still healthy.

Baseline: one proxy ``p`` to a real echo upstream, with two harmless toxics, so that generated paths
and bodies reach existing proxies and toxics. After an example that may have changed anything, every
other proxy is deleted and ``p`` is put back as it was.
"""
from __future__ import annotations

import json
import socket

from .fuzzing import ServedProxy, path_segment, strict_json
from .helpers import recv_exactly

BASE_TOXICS = [
    {"name": "noop", "type": "noop", "stream": "downstream", "toxicity": 1, "attributes": {}},
    {"name": "lat", "type": "latency", "stream": "upstream", "toxicity": 0.5,
     "attributes": {"latency": 0, "jitter": 0}},
]


class Baseline:
    def __init__(self, served: ServedProxy, echo_address: str) -> None:
        self.served = served
        self.echo = echo_address
        self.expected: dict | None = None
        self.stuck: set[str] = set()   # names no path can address ("a/b"): replaced by a disabled proxy
        self.create()

    def create(self) -> None:
        body = {"name": "p", "listen": self.expected["listen"] if self.expected else "127.0.0.1:0",
                "upstream": self.echo}
        reply = self.served.request("POST", "/proxies", json.dumps(body).encode())
        assert reply.status == 201, reply
        for toxic in BASE_TOXICS:
            reply = self.served.request("POST", "/proxies/p/toxics", json.dumps(toxic).encode())
            assert reply.status == 200, reply
        proxy = self.served.get_json("/proxies/p")
        assert isinstance(proxy, dict)
        if self.expected is None:
            self.expected = proxy
        assert proxy == self.expected

    def restore(self) -> None:
        """Delete every proxy but ``p``; put ``p`` back as it was if it changed."""
        proxies = self.served.get_json("/proxies")
        assert isinstance(proxies, dict)
        for name, proxy in proxies.items():
            if name == "p" or (name in self.stuck and not proxy["enabled"]):
                continue
            reply = self.served.request("DELETE", f"/proxies/{path_segment(name)}")
            if reply.status == 204:
                continue
            # Not addressable by any path (as in the real server): make it a proxy that listens nowhere.
            assert reply.status == 404, (name, reply)
            body = json.dumps([{"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1",
                                "enabled": False}]).encode()
            replaced = self.served.request("POST", "/populate", body)
            assert replaced.status == 201, (name, replaced)
            self.stuck.add(name)
        if proxies.get("p") != self.expected:
            if "p" in proxies:
                assert self.served.request("DELETE", "/proxies/p").status == 204
            self.create()

    def check_healthy(self) -> None:
        """``GET /version`` answers, and ``p`` still forwards data to its echo upstream and back."""
        self.restore()
        version = self.served.request("GET", "/version")
        assert version.status == 200 and isinstance(strict_json(version.body), dict)
        assert self.expected is not None
        host, port = self.expected["listen"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            for payload in (b"ping", b"x" * 100_000):
                sock.sendall(payload)
                assert recv_exactly(sock, len(payload)) == payload
