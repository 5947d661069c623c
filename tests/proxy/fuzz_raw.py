"""Raw HTTP for the API fuzzer: request lines, headers and bodies from valid to malformed, as bytes.

A generated request is ``(chunks, complete)``: the bytes in the pieces they are sent in, and whether
they end where a request could end (not cut in the middle, no body still owed), in which case the
server is expected to answer or close without waiting for more.
"""
from __future__ import annotations

from hypothesis import strategies as st


GOOD_METHODS = st.sampled_from([b"GET", b"POST", b"POST", b"DELETE", b"PATCH", b"PUT", b"OPTIONS"])
BAD_METHODS = st.sampled_from([b"CONNECT", b"TRACE", b"PRI", b"get", b"G ET", b"", b"\x00GET", b"GET\t",
                               b"M-SEARCH"]) | st.binary(min_size=1, max_size=8)
GOOD_TARGETS = st.sampled_from([b"/version", b"/proxies", b"/proxies/p", b"/proxies/p/toxics",
                                b"/proxies/p/toxics/lat", b"/populate", b"/reset", b"/metrics", b"/nope",
                                b"/proxies?x=1", b"/proxies/%70"])
BAD_TARGETS = st.sampled_from([
    b"*", b"http://127.0.0.1/version", b"http://[::1]:1/proxies", b"//", b"/%", b"/%zz", b"/a b", b"", b"/?",
    b"/#x", b"/\x00", b"/\xff", b"version", b"/proxies?x=%ff", b"/proxies/%ED%A0%80", b"127.0.0.1:80",
    b"/proxies/p/../p"]) | st.sampled_from([100, 4000, 8180, 8190, 8191, 9000, 70000]).map(
    lambda n: b"/" + b"a" * n) | st.binary(max_size=20)
BODY_ROUTES = st.sampled_from([b"POST /proxies", b"POST /populate", b"POST /proxies/p", b"PATCH /proxies/p",
                               b"POST /proxies/p/toxics", b"POST /proxies/p/toxics/lat", b"PATCH /proxies/p/toxics/lat",
                               b"POST /proxies/nope/toxics", b"GET /version", b"GET /proxies", b"POST /reset"])
GOOD_VERSIONS = st.sampled_from([b"HTTP/1.1"] * 4 + [b"HTTP/1.0"])
BAD_VERSIONS = st.sampled_from([b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"HTTP/1.2", b"HTTP/1", b"HTTP/", b"http/1.1",
                                b"HTTP/1.1 x", b"", b"HTTP/11", b"HTTP/1.1\x00"])
GOOD_EOLS = st.just(b"\r\n")
BAD_EOLS = st.sampled_from([b"\n", b"\r", b"\n\r", b"\r\r\n"])
GOOD_HEADERS = st.sampled_from([
    b"User-Agent: fuzz", b"Accept: */*", b"Connection: keep-alive", b"Connection: close", b"Expect: 100-continue",
    b"Content-Type: application/json", b"User-Agent: Mozilla/5.0", b"Content-Encoding: gzip", b"X-Empty:"])
BAD_HEADERS = st.sampled_from([
    b"Bad Header", b"NoColon", b": empty-name", b"Sp ace: x", b"X-A\x00: y", b"X-B: \x00", b"X-C: \x7f",
    b"\xff\xfe: z", b" folded: continuation", b"\tfolded", b"Host: a\r\nHost: b",
    b"Content-Type: a\r\nContent-Type: b", b"User-Agent: a\r\nUser-Agent: b", b"Upgrade: websocket\r\n"
    b"Connection: Upgrade", b"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABk",
    b"Expect: nope", b"Content-Encoding: br", b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked, chunked",
    b"Transfer-Encoding: xchunked", b"Transfer-Encoding: identity", b"Connection: close, close",
    b"Content-Length: 0\r\nContent-Length: 0"]) | st.sampled_from([8000, 8180, 8190, 8191, 9000, 70000]).map(
    lambda n: b"X-Big: " + b"a" * n) | st.tuples(st.binary(max_size=10), st.binary(max_size=20)).map(
    lambda t: t[0] + b": " + t[1])
COMPONENTS = ["eol", "method", "target", "version", "headers", "host", "many", "framing"]
BODIES = st.sampled_from([
    b"{}", b'{"name":"r1","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}',
    b'[{"name":"r2","upstream":"127.0.0.1:1","listen":"127.0.0.1:0","enabled":false}]',
    b'{"type":"latency","attributes":{"latency":1}}', b'{"toxicity":0.5}', b"garbage", b"\x1f\x8b\x08\x00junk",
    b'{"name":"\\ud800","upstream":"x:1"}', b"[" * 5000, b""]) | st.binary(max_size=50)
BAD_LENGTHS = [b"abc", b"-1", b"+5", b"5 5", b"1, 1", b"99999999999999999999999", b"0x10", b"", b"1e3",
               b"\xff"]
BAD_CHUNK_SIZES = [b"zz", b"-1", b"ffffffffffffffffff", b"", b" 5", b"5 ", b"0x5", b"\xff"]


@st.composite
def chunked_body(draw, body: bytes, eol: bytes, broken: bool) -> tuple[bytes, bool]:
    """A chunked encoding of ``body``: (bytes, complete); sometimes broken on purpose."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
    out = b"".join(b"%x" % len(p) + draw(st.sampled_from([b"", b";ext=1"])) + eol + p + eol for p in pieces)
    how = draw(st.sampled_from(["bad size", "bad size", "no crlf", "no last", "long size"] if broken else [
        "good", "good", "trailer"]))
    if how == "bad size":
        return draw(st.sampled_from(BAD_CHUNK_SIZES)) + eol + b"x" + eol + b"0" + eol + eol, True
    if how == "no crlf":
        return b"3" + eol + b"abcdef" + eol + b"0" + eol + eol, True
    if how == "no last":
        return out, False
    if how == "long size":
        return b"1" * 10_000 + eol, True
    trailer = b"X-Trailer: t" + eol if how == "trailer" else b""
    return out + b"0" + eol + trailer + eol, True


@st.composite
def one_request(draw) -> tuple[bytes, bool]:
    """A request with no defect (4 in 10), or one, or a few: in its line, headers or framing."""
    size = draw(st.sampled_from([0] * 4 + [1] * 4 + [2, 3]))
    bad = set(draw(st.lists(st.sampled_from(COMPONENTS), min_size=size, max_size=size)))

    def part(name: str, good: st.SearchStrategy, defective: st.SearchStrategy) -> bytes:
        return draw(defective if name in bad else good)

    eol = part("eol", GOOD_EOLS, BAD_EOLS)
    if "method" in bad or "target" in bad or draw(st.integers(0, 9)) >= 7:
        line = part("method", GOOD_METHODS, BAD_METHODS) + b" " + part("target", GOOD_TARGETS, BAD_TARGETS)
    else:
        line = draw(BODY_ROUTES)  # a route that reads the body
    line += b" " + part("version", GOOD_VERSIONS, BAD_VERSIONS)
    headers = draw(st.lists(GOOD_HEADERS, max_size=2))
    if "headers" in bad:
        headers += draw(st.lists(BAD_HEADERS, min_size=1, max_size=2))
    if "host" not in bad:
        headers.append(b"Host: 127.0.0.1")
    body = draw(BODIES)
    complete = True
    framing = draw(st.sampled_from(["none", "length", "length", "chunked"] if "framing" not in bad else [
        "longer", "shorter", "bad length", "two lengths", "chunked and length", "bad chunks"]))
    if framing == "none":
        body = b""
    elif framing in ("length", "longer", "shorter"):
        delta = {"length": 0, "longer": draw(st.integers(1, 1000)), "shorter": -draw(st.integers(1, 5))}[framing]
        headers.append(b"Content-Length: %d" % max(0, len(body) + delta))
        complete = delta <= 0
    elif framing == "bad length":
        headers.append(b"Content-Length: " + draw(st.sampled_from(BAD_LENGTHS)))
    elif framing == "two lengths":
        headers += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
    else:
        headers.append(b"Transfer-Encoding: chunked")
        if framing == "chunked and length":
            headers.append(b"Content-Length: %d" % len(body))
        body, complete = draw(chunked_body(body, eol, broken=framing == "bad chunks"))
    headers = draw(st.permutations(headers))
    if "many" in bad:
        headers += [b"X-N%d: v" % i for i in range(draw(st.sampled_from([100, 127, 128, 129, 1000])))]
    return line + eol + b"".join(h + eol for h in headers) + eol + body, complete


@st.composite
def raw_requests(draw) -> tuple[list[bytes], bool]:
    """1 to 3 pipelined requests, or garbage; sometimes cut short; sent in 1 to 4 pieces."""
    if draw(st.integers(0, 9)) == 9:
        data = draw(st.binary(min_size=1, max_size=300))
        # ended like a head, it must be answered (b"D" may still become "DELETE": it is waited on)
        complete = data.strip() != b"" and draw(st.booleans())
        if complete:
            data += b"\r\n\r\n"
    else:
        size = draw(st.sampled_from([1] * 6 + [2] * 2 + [3]))
        requests = draw(st.lists(one_request(), min_size=size, max_size=size))
        data = b"".join(r for r, _ in requests)
        complete = all(c for _, c in requests)
    if draw(st.integers(0, 9)) == 9:
        data, complete = data[:draw(st.integers(0, max(0, len(data) - 1)))], False
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=2))
    if draw(st.booleans()) and b"\r\n\r\n" in data:
        cuts.append(data.index(b"\r\n\r\n") + 4)  # the head, then the body: the handler reads it
    cuts = sorted(cuts)
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a]
    return chunks or [data], complete
