"""Support for fuzzing the embedded proxy's HTTP API: the server under test, a raw HTTP client, the properties.

The server is a real ``chaosrunner proxy serve`` child process on a free loopback port, its log (stderr)
in a file that every example reads from where the previous one stopped. The client speaks HTTP over
plain sockets, so any byte can be sent, and every read has a deadline: a server that neither answers
nor closes the connection within ``REPLY_TIMEOUT`` seconds fails the property "never hang".

Examples: ``FUZZ_EXAMPLES`` per fuzz test (2,000 by default, ``CHAOSRUNNER_FUZZ_EXAMPLES=N`` for more),
derandomized and without an example database so that CI runs exactly the same inputs every time.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, settings

from chaosrunner.proxy import start_subprocess

FUZZ_EXAMPLES = int(os.environ.get("CHAOSRUNNER_FUZZ_EXAMPLES", "2000"))
settings.register_profile(
    "chaosrunner-proxy-fuzz", max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink), print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("chaosrunner-proxy-fuzz")

#: Seconds within which the server must answer a complete request, or close the connection.
REPLY_TIMEOUT = 10.0
#: A log line that must never appear: a traceback, aiohttp's "Error handling request", anything above INFO.
BAD_LOG = re.compile(r"Traceback|Error handling request|Exception|Unhandled| (WARNING|ERROR|CRITICAL) ")


class Hang(AssertionError):
    """The server neither answered nor closed the connection within the deadline."""


@dataclass
class Reply:
    version: str
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> object:
        return strict_json(self.body)


def strict_json(data: bytes) -> object:
    """JSON as Go's decoder accepts it: UTF-8, no NaN/Infinity literals."""
    def no_constant(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(data.decode("utf-8"), parse_constant=no_constant)


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Every byte until the server closes (EOF or reset); :class:`Hang` past ``deadline``."""
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Hang(f"the connection stayed open; received so far: {bytes(data[:300])!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk


def parse_replies(data: bytes, head: bool = False) -> list[Reply]:
    """Split what the server sent into well-formed HTTP/1.x responses (AssertionError if it is not)."""
    replies: list[Reply] = []
    while data:
        end = data.find(b"\r\n\r\n")
        assert end >= 0, f"a response without the end of its header: {data[:300]!r}"
        lines = data[:end].decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/(\d\.\d) ([1-5]\d\d) ?(.*)", lines[0])
        assert match, f"not an HTTP status line: {lines[0]!r}"
        reply = Reply(match[1], int(match[2]), match[3])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name and name == name.strip(), f"bad response header {line!r}"
            reply.headers[name.lower()] = value.strip()
        data = data[end + 4:]
        closes = reply.headers.get("connection", "").lower() == "close" or (
            reply.version == "1.0" and reply.headers.get("connection", "").lower() != "keep-alive")
        if head and closes:
            reply.body, data = data, b""  # a 400 for a malformed HEAD request has its body, as Go's
        elif head or reply.status in (204, 304) or reply.status < 200:
            pass
        elif reply.headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                line_end = data.find(b"\r\n")
                assert line_end >= 0, f"truncated chunked response: {data[:100]!r}"
                size = int(data[:line_end].split(b";")[0], 16)
                body += data[line_end + 2:line_end + 2 + size]
                data = data[line_end + 2 + size + 2:]
                if size == 0:
                    break
            reply.body = bytes(body)
        elif "content-length" in reply.headers:
            length = int(reply.headers["content-length"])
            assert len(data) >= length, f"response body shorter than its Content-Length: {data!r}"
            reply.body, data = data[:length], data[length:]
        else:
            reply.body, data = data, b""
        replies.append(reply)
    return replies


def build_request(method: str, target: str, body: bytes | None = None,
                  headers: list[tuple[str, str]] | None = None) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers or []]
    if body is not None:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + (body or b"")


def path_segment(name: str) -> str:
    return quote(name, safe="")


class ServedProxy:
    """A ``chaosrunner proxy serve`` child process, its log, and the client side of the fuzzing."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc = start_subprocess(port=0, metrics=True, log_file=log_path)
        self.host, self.port = self.proc.host, self.proc.port
        self._log_offset = 0

    def stop(self) -> int:
        return self.proc.stop()

    # --- the log --------------------------------------------------------------------------------
    def new_log(self) -> str:
        """What the server logged since the last call."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            data = log.read()
        self._log_offset += len(data)
        return data.decode("utf-8", errors="replace")

    def assert_quiet_log(self, context: object = "", text: str | None = None) -> None:
        """Nothing alarming in ``text`` (by default: what was logged since the last read)."""
        text = self.new_log() if text is None else text
        bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
        assert not bad, f"the server logged, for {context!r}:\n{text}"

    # --- requests -------------------------------------------------------------------------------
    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=REPLY_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def exchange(self, raw: bytes, *, head: bool = False) -> Reply:
        """Send one complete ``Connection: close`` request; exactly one response must come, then EOF."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        with self.connect() as sock:
            sock.sendall(raw)
            data = read_until_closed(sock, deadline)
        replies = [r for r in parse_replies(data, head=head) if r.status >= 200]  # not 100 Continue
        assert len(replies) == 1, f"expected one response, got {len(replies)}: {data[:500]!r}"
        return replies[0]

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: list[tuple[str, str]] | None = None) -> Reply:
        return self.exchange(build_request(method, target, body, headers), head=method == "HEAD")

    def get_json(self, target: str) -> object:
        reply = self.request("GET", target)
        assert reply.status == 200, (target, reply)
        return reply.json()

    def send_raw(self, chunks: list[bytes], *, complete: bool, wait: float = REPLY_TIMEOUT / 2) -> bytes:
        """Send ``chunks``, then read what the server sends until it closes the connection.

        If they end a request (``complete``), the server must start answering (or close) within
        ``wait`` seconds while the connection stays open (:class:`Hang` otherwise); then, or at once
        for an unfinished request, the client half-closes and the server must close within
        ``REPLY_TIMEOUT`` (:class:`Hang` otherwise)."""
        with self.connect() as sock:
            try:
                for i, chunk in enumerate(chunks):
                    if i:
                        time.sleep(0.002)  # a separate read on the server's side, most of the time
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (400) and closed before reading everything
            data = b""
            if complete:
                sock.settimeout(wait)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    raise Hang(f"no answer within {wait} s to a complete request") from None
                except ConnectionResetError:
                    return b""
                if not data:
                    return b""  # closed without an answer
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # already closed by the server
            return data + read_until_closed(sock, time.monotonic() + REPLY_TIMEOUT)


class ExampleCount:
    """How many examples a fuzz test ran; printed to the terminal (also under capture) at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.started = time.monotonic()

    def __call__(self) -> None:
        self.count += 1

    def report(self, capsys) -> None:
        seconds = time.monotonic() - self.started
        with capsys.disabled():
            print(f"\n{self.name}: {self.count} examples in {seconds:.1f} s (max_examples={FUZZ_EXAMPLES})")
        assert self.count >= FUZZ_EXAMPLES, f"only {self.count} examples ran"


def go_listen_error(reply: Reply) -> bool:
    """The one 500 the real server sends: a proxy that cannot listen (``net.Listen``'s error)."""
    if reply.status != 500:
        return False
    body = reply.json()
    return isinstance(body, dict) and body.get("status") == 500 \
        and re.match(r"listen tcp[ :]", str(body.get("error", ""))) is not None


def assert_no_5xx(reply: Reply, context: object) -> None:
    assert reply.status < 500 or go_listen_error(reply), f"{context!r} answered {reply}"


def assert_api_reply(reply: Reply, context: object) -> None:
    """The properties of every answer of the API: no 5xx but a listen failure, JSON where JSON is due,
    every JSON error body ``{"error": str, "status": <the HTTP status>}`` as the real server's ``apiError``."""
    assert_no_5xx(reply, context)
    if reply.status == 204:
        assert reply.body == b"", (context, reply)
    is_json = reply.body.startswith(b"{") or reply.body.startswith(b"[")
    if reply.status == 200 and reply.headers.get("content-type", "").startswith("application/json"):
        assert is_json, (context, reply)
    if is_json:
        try:
            body = reply.json()
        except ValueError as exc:
            raise AssertionError(f"{context!r}: the body is not strict JSON ({exc}): {reply}") from None
        if reply.status >= 400:
            assert isinstance(body, dict) and isinstance(body.get("error"), str), (context, reply)
            assert body.get("status") == reply.status, (context, reply)
