"""Every input the API fuzzers once failed on, as plain tests that run every time (not only as slow
fuzzing): each against the real ``chaosrunner proxy serve`` child process, with its log checked."""
from __future__ import annotations

import gzip
import json
import re
import socket
import time

import pytest

from .fuzzing import REPLY_TIMEOUT, build_request, parse_replies, path_segment, read_until_closed


@pytest.fixture
def quiet(served, baseline):
    """The served proxy, its log read before and checked after the test, ``p`` restored after it."""
    served.new_log()
    yield served
    served.assert_quiet_log("this test")
    baseline.restore()


# aiohttp answered each with a 400, and logged "Error handling request" with the parser's traceback.
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"\x00\x01\x02\xff\xfe\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /version HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
    b"GET /version HTTP/9.9\r\n\r\n",
    b"GET http://[::1 HTTP/1.1\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /proxies HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n",
    b"GET /version HTTP/1.1\r\n\r\n",  # no Host
    b"GET /version HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-N%d: v\r\n" % i for i in range(200)) + b"\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=lambda raw: repr(raw[:40]))
def test_a_malformed_request_gets_a_400_and_no_traceback(quiet, raw):
    replies = parse_replies(quiet.send_raw([raw], complete=True), head=raw.startswith(b"HEAD"))
    assert [r.status for r in replies] == [400]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_content_encoding_is_not_undone_as_in_go(quiet, encoding):
    """Once a 500 ("Can not decode content-encoding: gzip") and a traceback: aiohttp decompressed the
    body. Go's server does not, so the body is read as JSON: a 400 from its first byte."""
    reply = quiet.request("POST", "/proxies", b"\x00junk", [("Content-Encoding", encoding)])
    assert (reply.status, reply.json()) == (400, {
        "error": "bad request body: invalid character '\\x00' looking for beginning of value", "status": 400})
    body = gzip.compress(json.dumps({"name": "gz", "upstream": "127.0.0.1:1"}).encode())
    reply = quiet.request("POST", "/proxies", body, [("Content-Encoding", "gzip")])
    assert reply.status == 400 and reply.json()["error"].startswith("bad request body: invalid character")


@pytest.mark.parametrize(("body", "message"), [
    (b"\x00junk", "invalid character '\\x00' looking for beginning of value"),   # was '\u0000'
    ("\u00e9".encode(), "invalid character '\u00c3' looking for beginning of value"),  # Go names the byte 0xC3
    (b"\xff", "invalid character '\u00ff' looking for beginning of value"),      # was U+FFFD
    (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),  # a BOM
    (b"\x85", "invalid character '\\u0085' looking for beginning of value"),
    (b"-Infinity", "invalid character 'I' in numeric literal"),                  # was '-' ... beginning of value
])
def test_a_syntax_error_names_the_byte_as_gos_decoder_does(quiet, body, message):
    """Found with the bodies above: Go's scanner reports a byte (strconv.Quote of its rune)."""
    reply = quiet.request("POST", "/proxies", body)
    assert (reply.status, reply.json()) == (400, {"error": f"bad request body: {message}", "status": 400})


@pytest.mark.parametrize("escaped", ["a\\udfff", "\\ud800", "\\udc00\\ud800x"])
def test_an_escaped_lone_surrogate_becomes_u_fffd_as_in_go(quiet, escaped):
    """Once the proxy was created, then every answer that showed it (its own, ``GET /proxies``) was a
    500 "surrogates not allowed": the API was unusable until a restart. Go's decoder writes U+FFFD."""
    expected = re.sub("[\ud800-\udfff]", "\ufffd", json.loads(f'"{escaped}"'))
    body = f'{{"name":"{escaped}","upstream":"127.0.0.1:1","listen":"127.0.0.1:0","enabled":false}}'.encode()
    reply = quiet.request("POST", "/proxies", body)
    assert reply.status == 201 and reply.json()["name"] == expected
    assert expected in quiet.get_json("/proxies")
    toxic = f'{{"name":"{escaped}","type":"latency","attributes":{{"{escaped}":1}}}}'.encode()
    reply = quiet.request("POST", "/proxies/p/toxics", toxic)
    assert reply.status == 200 and reply.json()["name"] == expected
    assert quiet.request("GET", "/proxies/p/toxics").status == 200
    assert quiet.request("DELETE", f"/proxies/{path_segment(expected)}").status == 204


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9"])
def test_another_major_http_version_gets_gos_505(quiet, version):
    """aiohttp's parser takes these request lines, and answered them 200 with an ``HTTP/2.0`` status
    line; Go's net/http refuses them: 505 "unsupported protocol version", then closes."""
    replies = parse_replies(quiet.send_raw([b"GET /version " + version + b"\r\nHost: x\r\n\r\n"], complete=True))
    assert [(r.status, r.body) for r in replies] == [
        (505, b"505 HTTP Version Not Supported: unsupported protocol version")]


def send_head_then(served, head: bytes, rest: bytes) -> list:
    """The head, a pause (the handler starts and reads, or answers), then the rest; half-close; replies."""
    with served.connect() as sock:
        sock.sendall(head)
        time.sleep(0.2)
        sock.sendall(rest)
        time.sleep(0.1)
        sock.shutdown(socket.SHUT_WR)
        return parse_replies(read_until_closed(sock, time.monotonic() + REPLY_TIMEOUT))


def test_a_broken_chunk_read_by_the_handler_is_a_400(quiet):
    """The handler was reading the body when the chunk turned out malformed: once a 500."""
    head = b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    replies = send_head_then(quiet, head, b"2\r\n{}\r\nzz\r\n")
    assert replies[0].status == 400
    assert replies[0].json() == {"error": "bad request body: malformed chunked encoding", "status": 400}


def test_a_broken_chunk_after_the_answer_is_no_unhandled_exception(quiet):
    """The handler answered (404) without reading the body; aiohttp then reads the rest of it to keep
    the connection, meets a bad chunk, and logged "Unhandled exception" with a traceback."""
    head = b"POST /proxies/absent/toxics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    replies = send_head_then(quiet, head, b"zz\r\n")
    assert replies[0].status == 404


def test_a_client_gone_before_100_continue_is_nothing_to_log(quiet):
    """The handler wrote "100 Continue" to a client that had half-closed: aiohttp's ERROR "Error handling
    request" (Cannot write to closing transport), later a WARNING and a 500. A race: tried 20 times."""
    head = b"POST /proxies/p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    for _ in range(20):
        parse_replies(quiet.send_raw([head], complete=False))


def test_expect_is_answered_as_gos_server_does(quiet):
    """100 Continue before the body is read; 417 (and close) for any other expectation."""
    body = b'{"name":"e","upstream":"127.0.0.1:1","listen":"127.0.0.1:0","enabled":false}'
    raw = build_request("POST", "/proxies", body, [("Expect", "100-continue")])
    replies = parse_replies(quiet.send_raw([raw], complete=True))
    assert [r.status for r in replies] == [100, 201]
    replies = parse_replies(quiet.send_raw([build_request("GET", "/version", None, [("Expect", "nope")])],
                                           complete=True))
    assert [(r.status, r.body) for r in replies] == [(417, b"")]
