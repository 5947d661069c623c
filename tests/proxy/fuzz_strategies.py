"""Hypothesis strategies for the proxy API fuzzers: JSON bodies (well-shaped, wrong types, huge numbers,
NaN/Infinity literals, deep nesting, unicode, missing, extra and case-folded fields), names, paths,
and raw HTTP requests from valid to malformed.

Every ``listen`` address generated is loopback or fails before any name lookup: a fuzzed proxy never
listens beyond 127.0.0.1/::1 and never asks a resolver anything.
"""
from __future__ import annotations

import json

from hypothesis import strategies as st

from .fuzzing import path_segment


class Lit(str):
    """Text written into the JSON document as is: NaN, 1e400, 01, a lone surrogate escape..."""


class Obj(list):
    """A JSON object as (key, value) pairs: keys may repeat or differ only in case."""


class Deep(int):
    """``n`` nested arrays (or objects, when negative) around a number."""


NUMBER_LITERALS = ["NaN", "Infinity", "-Infinity", "nan", "1e400", "-1e400", "1e-400", "-0", "0.0", "1E+2", "1.5",
                   "123456789012345678901234567890", "9223372036854775807", "9223372036854775808",
                   "-9223372036854775808", "-9223372036854775809", "3.4028234e38", "3.5e38", "01", "+1", ".5",
                   "1.", "0x10", "1e", '"\\ud800"', '"\\udc00x"', '"\\u0000"', '"\\uZZZZ"', "tru", "nul"]


def dump(value: object, ascii_only: bool = True) -> str:
    """Serialise, writing :class:`Lit` verbatim, :class:`Obj` pairs in order, :class:`Deep` nesting."""
    if isinstance(value, Lit):
        return str(value)
    if isinstance(value, Deep):
        n = int(value)
        return "[" * n + "1" + "]" * n if n >= 0 else '{"a":' * -n + "1" + "}" * -n
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=ascii_only)}:{dump(v, ascii_only)}"
                              for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# Strings Go's decoder must repair or keep: lone surrogates (escaped, or raw as invalid UTF-8), NUL,
# U+2028, HTML characters Go escapes on output, astral characters.
ODD_TEXT = ["\ud800", "a\udfff", "\udc00\ud800", "\ud83d\ude00", "\U0001f600", "\u2028", "<&>", "\x00", "\u00e9"]
odd_text = st.sampled_from(ODD_TEXT)
text_values = st.text(st.characters(codec=None), max_size=20) | odd_text
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 0]),
    st.floats(allow_nan=False, allow_infinity=False), text_values, st.sampled_from(NUMBER_LITERALS).map(Lit),
    st.integers(-3000, 3000).map(Deep))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.lists(st.tuples(st.text(max_size=10) | st.sampled_from(
                                   ["name", "listen", "upstream", "enabled", "type", "stream", "toxicity",
                                    "attributes", "latency"]), children), max_size=4).map(Obj)),
    max_leaves=12)

# --- names and addresses ------------------------------------------------------------------------
# Not "/" (a name with it cannot be addressed in a path, as in the real server) nor "." or "..".
name_text = st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and s not in (".", ".."))
proxy_names = st.sampled_from(["p", "q", "fuzz", "nope", "P"]) | name_text
toxic_names = st.sampled_from(["noop", "lat", "latency_downstream", "bandwidth_upstream", "x"]) | name_text
TOXIC_TYPES = ["noop", "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"]
ATTRIBUTES = ["latency", "jitter", "rate", "delay", "timeout", "average_size", "size_variation", "bytes"]


def listen_addresses(busy_port: int) -> st.SearchStrategy[str]:
    fixed = ["127.0.0.1:0", "[::1]:0", "localhost:0", "127.0.0.1:", "", "127.0.0.1:99999", "127.0.0.1:-1",
             "127.0.0.1:abc", "[::1", "[::1]", "::1:0", "127.0.0.1:0x10", "[127.0.0.1]:0", "127.0.0.1: 0",
             f"127.0.0.1:{busy_port}", f"[::1]:{busy_port}"]
    return st.sampled_from(fixed) | st.text(max_size=10).filter(lambda s: ":" not in s)


def upstreams(echo: str) -> st.SearchStrategy[str]:
    return st.sampled_from([echo, "127.0.0.1:1", "localhost:9", "nope", "", "[::1]:1"]) | st.text(max_size=10)


# --- shaped bodies -------------------------------------------------------------------------------
@st.composite
def shaped_object(draw, fields: dict[str, st.SearchStrategy]) -> Obj:
    """An object with some of ``fields`` (right or wrong types, keys in any case), extra keys, any order."""
    pairs = []
    for key, right in fields.items():
        if draw(st.integers(0, 9)) >= 8:
            continue  # missing
        value = draw(right) if draw(st.integers(0, 9)) <= 6 else draw(json_values)
        spelled = draw(st.sampled_from([key] * 6 + [key.upper(), key.title()]))
        pairs.append((spelled, value))
    pairs += draw(st.lists(st.tuples(st.text(max_size=8), json_values), max_size=2))
    return Obj(draw(st.permutations(pairs)))


def proxy_objects(busy_port: int, echo: str) -> st.SearchStrategy[Obj]:
    return shaped_object({"name": proxy_names | odd_text, "listen": listen_addresses(busy_port),
                          "upstream": upstreams(echo) | odd_text, "enabled": st.booleans()})


def attribute_objects() -> st.SearchStrategy[Obj]:
    numbers = st.integers() | st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63]) | st.sampled_from(
        NUMBER_LITERALS).map(Lit)
    return shaped_object({name: numbers for name in ATTRIBUTES})


toxic_objects = shaped_object({
    "name": toxic_names | odd_text,
    "type": st.sampled_from(TOXIC_TYPES + ["", "nope", "Latency", "latency "]),
    "stream": st.sampled_from(["upstream", "downstream", "UPSTREAM", "Downstream", "", "sideways"]),
    "toxicity": st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(NUMBER_LITERALS).map(Lit),
    "attributes": attribute_objects(),
})


@st.composite
def encoded(draw, values: st.SearchStrategy) -> bytes:
    """A value as a request body: exact, truncated, with trailing bytes, in another encoding..."""
    text = dump(draw(values), ascii_only=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["exact"] * 6 + ["truncated", "trailing", "spaced", "latin-1", "utf-16", "bom"]))
    if how == "truncated":
        raw = raw[:draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "trailing":
        raw += draw(st.binary(min_size=1, max_size=8))
    elif how == "spaced":
        raw = b" \t\r\n" + raw + b"\n"
    elif how == "latin-1":
        raw = text.encode("latin-1", "replace")
    elif how == "utf-16":
        raw = text.encode("utf-16", "surrogatepass")
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    return raw


def bodies(shaped: st.SearchStrategy) -> st.SearchStrategy[bytes | None]:
    """Mostly the shape the route expects; else any JSON, binary, empty or no body at all."""
    return weighted((14, encoded(shaped)), (3, encoded(json_values)), (1, st.binary(max_size=40)),
                    (1, st.just(b"")), (1, st.none()))


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """``one_of`` with weights (hypothesis picks the branches of ``one_of`` evenly)."""
    options = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(options) - 1).flatmap(lambda i: options[i])


# --- requests to the API ---------------------------------------------------------------------------
ODD_METHODS = st.sampled_from(["PUT", "HEAD", "OPTIONS", "TRACE", "get", "Post"]) | st.from_regex(
    r"[A-Z][A-Z_-]{0,9}", fullmatch=True)
query_strings = weighted((6, st.just("")), (1, st.text(max_size=20).map(lambda s: "?" + path_segment(s))),
                         (1, st.sampled_from(["?", "?a=1&a=2", "?%zz", "?stream=upstream", "?" + "x" * 4000])))
random_paths = st.lists(st.sampled_from(["proxies", "toxics", "p", "lat", "", "..", ".", "version", "%2F",
                                         "%zz", "%00", "%ED%A0%80", "%FF", "%EF%BF%BD", "populate", "reset",
                                         "metrics"]) | name_text.map(path_segment),
                        max_size=5).map(lambda parts: "/" + "/".join(parts))
HEADERS = st.lists(st.sampled_from([
    ("User-Agent", "Mozilla/5.0 (fuzz)"), ("User-Agent", "curl/8"), ("Content-Type", "application/json"),
    ("Content-Type", "text/plain; charset=latin-1"), ("Accept", "text/html"), ("Content-Encoding", "gzip"),
    ("Content-Encoding", "deflate"), ("Content-Encoding", "br"), ("Content-Encoding", "zstd"),
    ("Content-Encoding", "identity"), ("Expect", "100-continue"), ("Expect", "nope"), ("X-Fuzz", "\u00e9"),
]), max_size=2)


def methods(*usual: str) -> st.SearchStrategy[str]:
    return weighted((8, st.sampled_from(usual)), (1, st.sampled_from(["GET", "POST", "PATCH", "DELETE"])),
                    (1, ODD_METHODS))


def api_requests(busy_port: int, echo: str) -> st.SearchStrategy[tuple[str, str, bytes | None, list]]:
    """(method, target, body, headers): mostly what the route takes, with the body it expects."""
    proxy = proxy_names.map(path_segment)
    toxic = toxic_names.map(path_segment)
    proxy_body = bodies(proxy_objects(busy_port, echo))
    toxic_body = bodies(toxic_objects)
    populate_body = bodies(weighted((3, st.lists(proxy_objects(busy_port, echo), max_size=4)),
                                    (1, proxy_objects(busy_port, echo))))
    request = st.tuples  # (method, path, body)
    kinds = weighted(
        (3, request(methods("POST"), st.just("/proxies"), proxy_body)),
        (2, request(methods("POST"), st.just("/populate"), populate_body)),
        (2, request(methods("POST", "PATCH"), proxy.map(lambda n: f"/proxies/{n}"), proxy_body)),
        (3, request(methods("POST"), proxy.map(lambda n: f"/proxies/{n}/toxics"), toxic_body)),
        (2, request(methods("POST", "PATCH"), st.tuples(proxy, toxic).map(
            lambda t: f"/proxies/{t[0]}/toxics/{t[1]}"), toxic_body)),
        (1, request(methods("GET"), st.sampled_from(["/proxies", "/version", "/metrics"]) | proxy.map(
            lambda n: f"/proxies/{n}") | proxy.map(lambda n: f"/proxies/{n}/toxics"), bodies(json_values))),
        (1, request(methods("DELETE"), proxy.map(lambda n: f"/proxies/{n}") | st.tuples(proxy, toxic).map(
            lambda t: f"/proxies/{t[0]}/toxics/{t[1]}"), bodies(json_values))),
        (1, request(methods("POST"), st.just("/reset"), bodies(json_values))),
        (1, request(methods("GET", "POST"), random_paths, bodies(json_values))),
    )
    return st.builds(lambda req, query, headers: (req[0], req[1] + query, req[2], headers),
                     kinds, query_strings, HEADERS)
