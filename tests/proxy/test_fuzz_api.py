"""Fuzzing the proxy's HTTP API with structured requests: every route, generated names, paths, query
strings and JSON bodies. Properties: no 5xx but the real server's listen failure, an answer (then the
close asked for) within the deadline, error bodies as the real server's, nothing logged above INFO and
never a traceback; afterwards the server still answers and still forwards data."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from .fuzz_strategies import api_requests
from .fuzzing import FUZZ, ExampleCount, assert_api_reply

pytestmark = pytest.mark.slow


def test_fuzz_every_route_with_generated_requests(served, baseline, capsys):
    count = ExampleCount("API requests")

    @FUZZ
    @given(request=api_requests(served.port, baseline.echo))
    # Inputs that once failed (see test_fuzz_regressions.py):
    # aiohttp decompressed the body: 500 "Can not decode content-encoding: gzip", and a traceback
    @example(request=("POST", "/proxies", b"{}", [("Content-Encoding", "gzip")]))
    # a duplicate User-Agent: aiohttp's 400, logged with a traceback
    @example(request=("POST", "/proxies", b"", [("User-Agent", "Mozilla/5.0 (fuzz)")] * 2))
    @example(request=("HEAD", "/proxies", b"", [("User-Agent", "Mozilla/5.0 (fuzz)")] * 2))  # its 400 has a body
    # an escaped lone surrogate: the proxy was created, then every answer showing it was a 500
    @example(request=("POST", "/proxies", b'{"name":"a\\udfff","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}', []))
    @example(request=("POST", "/proxies/p/toxics", b'{"name":"\\ud800","type":"latency"}', []))
    # Go's listen error for an address without a port: the one 500 the real server sends too (the
    # fuzzer's oracle first wanted "listen tcp " with a space)
    @example(request=("POST", "/proxies", b'{"name":"q","listen":"0","upstream":"127.0.0.1:1"}', []))
    def run(request):
        count()
        method, target, body, headers = request
        try:
            reply = served.request(method, target, body, headers)
        finally:
            log = served.new_log()  # this example's, whatever happens
        assert_api_reply(reply, request)
        served.assert_quiet_log(request, log)
        if method != "GET":
            baseline.restore()

    run()
    count.report(capsys)
    baseline.check_healthy()
    served.assert_quiet_log("the health check")


def test_fuzz_sequences_of_requests(served, baseline, capsys):
    """Two to four requests in a row on the same state (a proxy created, then its toxics, its update,
    a reset, a populate over it...), every answer held to the same properties."""
    count = ExampleCount("API request sequences")

    @FUZZ
    @given(requests=st.lists(api_requests(served.port, baseline.echo), min_size=2, max_size=4))
    def run(requests):
        count()
        try:
            for request in requests:
                method, target, body, headers = request
                try:
                    reply = served.request(method, target, body, headers)
                finally:
                    log = served.new_log()
                assert_api_reply(reply, request)
                served.assert_quiet_log(request, log)
        finally:
            baseline.restore()

    run()
    count.report(capsys)
    baseline.check_healthy()
    served.assert_quiet_log("the health check")
