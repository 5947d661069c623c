"""Fuzzing the proxy's HTTP API with raw, often malformed, HTTP over sockets: bad request lines and
headers, invalid chunked encodings and Content-Lengths, absurd sizes, binary garbage, pipelining,
truncated requests. Properties: every response well formed and never 5xx (but Go's 505 for an HTTP
version other than 1.x); the connection answered or closed within the deadline once the client is
done; nothing logged above INFO, never a traceback; afterwards the server still answers and forwards."""
from __future__ import annotations

import re

import pytest
from hypothesis import example, given

from .fuzz_raw import raw_requests
from .fuzzing import FUZZ, ExampleCount, parse_replies

pytestmark = pytest.mark.slow

#: Request lines that Go's net/http refuses with 505 (aiohttp's parser accepts 0.9 and 2.0)
OTHER_VERSION = re.compile(rb" HTTP/[02]\.\d")


def check_raw_exchange(served, chunks: list[bytes], complete: bool) -> None:
    raw = b"".join(chunks)
    try:
        data = served.send_raw(chunks, complete=complete)
    finally:
        log = served.new_log()
    for reply in parse_replies(data):
        allowed_505 = reply.status == 505 and OTHER_VERSION.search(raw) and reply.body.startswith(
            b"505 HTTP Version Not Supported")
        assert reply.status < 500 or allowed_505, (raw[:300], reply)
    served.assert_quiet_log(raw[:300], log)


def test_fuzz_raw_http(served, baseline, capsys):
    count = ExampleCount("raw HTTP")

    @FUZZ
    @given(request=raw_requests())
    # Inputs that once failed (see test_fuzz_regressions.py):
    # a malformed chunk after the head was handed over: the handler waited for its body forever
    @example(request=([b"POST /proxies HTTP/1.1\r\nUser-Agent: fuzz\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
                       b"\r\n\r\n", b"zz\r\nx\r\n0\r\n\r\n"], True))
    # "100 Continue" written to a client already gone: a WARNING (or aiohttp's ERROR) and a 500
    @example(request=([b"POST /proxies/p HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 5\r\n\r\n"], False))
    # aiohttp decompressed the body: 500 "Can not decode content-encoding: br"
    @example(request=([b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 10\r\n"
                       b"\r\n\x00123456789"], True))
    # an HTTP/2.0 request line (found by hand): answered "HTTP/2.0 200 OK"; Go's server answers 505
    @example(request=([b"GET /version HTTP/2.0\r\nHost: x\r\n\r\n"], True))
    # aiohttp's 400 for garbage, logged with a traceback
    @example(request=([b"\x00\x01\x02\xff\xfe\r\n\r\n"], True))
    @example(request=([b"D"], False))  # the fuzzer's own mistake: "D" may become "DELETE", so it is waited on
    def run(request):
        count()
        chunks, complete = request
        check_raw_exchange(served, chunks, complete)
        if any(method in chunk for chunk in chunks for method in (b"POST", b"PATCH", b"DELETE")):
            baseline.restore()

    run()
    count.report(capsys)
    baseline.check_healthy()
    served.assert_quiet_log("the health check")
