"""The Toxiproxy v2 HTTP API: routes, handlers, and the real server's status codes and bodies.

Why aiohttp.web rather than a hand-rolled HTTP parser: the API is the control plane (a handful of
requests per fault), so its speed does not matter, while HTTP/1.1 parsing (keep-alive, chunked
bodies, pipelining, size limits, garbage and half-sent requests) is exactly what a small parser
gets wrong. aiohttp is already a dependency and runs on the same loop as the data path, which
stays on raw ``asyncio.Protocol`` transports. Routing is done here, not by aiohttp's router, so
unknown paths and methods answer as the real server's gorilla/mux does (``404 page not found``,
an empty 405), and every error is ``{"error": ..., "status": N}`` — never a traceback. What Go's
net/http itself answers before any handler (505 for HTTP/0.9 or 2.0, 417 for an unknown ``Expect``)
is answered first; ``httpserver.py`` makes aiohttp's server fail as Go's does (no hang, no traceback).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from chaosrunner.proxy import gojson, metrics
from chaosrunner.proxy.errors import BAD_REQUEST_BODY, MISSING_FIELD, ApiError, ListenError, internal
from chaosrunner.proxy.gojson import Field
from chaosrunner.proxy.httpserver import reading_body
from chaosrunner.proxy.proxy import Proxy, ProxyCollection
from chaosrunner.proxy.toxics import parse_new_toxic, parse_toxic_update

log = logging.getLogger(__name__)

#: The Toxiproxy release whose API this server implements (what ``GET /version`` answers).
TOXIPROXY_VERSION = "2.9.0"

_PROXY_FIELDS = [Field("name", "string"), Field("listen", "string"), Field("upstream", "string"),
                 Field("enabled", "bool")]
_POPULATE_ITEM = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}

Handler = Callable[[web.BaseRequest, dict[str, str]], Awaitable[web.StreamResponse]]


def go_json(value: Any) -> str:
    """``json.Marshal``: compact, UTF-8, with Go's HTML-safe escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():  # Go writes U+FFFD for what is not valid UTF-8 (no str here should have any)
        text = gojson.LONE_SURROGATE.sub("\ufffd", text)
    for char, escaped in _JSON_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=go_json(value).encode(), status=status, headers={"Content-Type": "application/json"})


# Go's ``http.Error`` (behind every error of the real server) adds this header
_GO_HTTP_ERROR = {"X-Content-Type-Options": "nosniff"}


# What Go's net/http answers to a request line of another major version than 1 (http1ServerSupportsRequest)
_UNSUPPORTED_VERSION = "HTTP Version Not Supported: unsupported protocol version"


def error_response(error: ApiError) -> web.Response:
    """What the real server's ``apiError`` sends: the JSON body through Go's ``http.Error``, which
    replaces the handler's ``application/json`` with ``text/plain``, adds ``nosniff`` and a newline."""
    return web.Response(body=(go_json(error.body()) + "\n").encode(), status=error.status,
                        headers={**_GO_HTTP_ERROR, "Content-Type": "text/plain; charset=utf-8"})


def no_content() -> web.Response:
    return web.Response(status=204)


def _expects_continue(request: web.BaseRequest) -> bool:
    return "100-continue" in (token.strip().lower() for token in request.headers.get("Expect", "").split(","))


async def _body(request: web.BaseRequest) -> bytes:
    try:
        if _expects_continue(request) and request.version >= (1, 1) and request.content_length != 0:
            # Go's server sends it when the handler starts reading the body
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return await reading_body(request)
    except web.HTTPRequestEntityTooLarge:
        raise ApiError("http: request body too large", 413) from None
    except RequestPayloadError:
        # The body's framing broke (a bad chunk): Go's body reader fails, the handler answers with its error.
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        raise BAD_REQUEST_BODY.joined("malformed chunked encoding" if chunked else "unexpected EOF") from None
    except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
        raise BAD_REQUEST_BODY.joined(str(exc) or "unexpected EOF") from None


def _parse(raw: bytes) -> Any:
    try:
        return gojson.parse(raw)
    except gojson.SyntaxErrorMessage as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


class Api:
    """The handlers, over one :class:`ProxyCollection`; mutations are serialised by one lock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, metrics_enabled: bool = False) -> None:
        self.loop = loop
        self.collection = ProxyCollection()
        self.metrics_enabled = metrics_enabled
        self.lock = asyncio.Lock()
        self.routes: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
            (("reset",), {"POST": self.reset}),
            (("proxies",), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (("populate",), {"POST": self.populate}),
            (("proxies", "{proxy}"), {"GET": self.proxy_show, "POST": self.proxy_update,
                                      "PATCH": self.proxy_update, "DELETE": self.proxy_delete}),
            (("proxies", "{proxy}", "toxics"), {"GET": self.toxic_index, "POST": self.toxic_create}),
            (("proxies", "{proxy}", "toxics", "{toxic}"), {"GET": self.toxic_show, "POST": self.toxic_update,
                                                          "PATCH": self.toxic_update, "DELETE": self.toxic_delete}),
            (("version",), {"GET": self.version}),
        ]

    # --- dispatch -----------------------------------------------------------------------------
    def _match(self, path: str) -> tuple[dict[str, Handler] | None, dict[str, str]]:
        parts = path.split("/")[1:] if path.startswith("/") else None
        if parts is None:
            return None, {}
        for pattern, methods in self.routes:
            if len(pattern) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, parts, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return methods, params
        return None, {}

    async def dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.version.major != 1:
            # aiohttp's parser takes HTTP/0.9 and HTTP/2.0 request lines; Go's net/http refuses them.
            refused = web.Response(status=505, reason=_UNSUPPORTED_VERSION, text=f"505 {_UNSUPPORTED_VERSION}")
            refused.force_close()
            return refused
        if request.headers.get("Expect") and not _expects_continue(request):
            refused = web.Response(status=417)  # as Go's net/http, before any handler
            refused.force_close()
            return refused
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            return web.Response(text="User agent not allowed\n", status=403, headers=_GO_HTTP_ERROR)
        path = request.path
        if path == "/metrics" and self.metrics_enabled:
            return web.Response(body=metrics.render(self.collection.proxies.values()).encode(),
                                headers={"Content-Type": metrics.CONTENT_TYPE})
        methods, params = self._match(path)
        if methods is None:
            return web.Response(text="404 page not found\n", status=404, headers=_GO_HTTP_ERROR)
        handler = methods.get(request.method)
        if handler is None:
            return web.Response(status=405)
        try:
            return await handler(request, params)
        except ApiError as exc:
            return error_response(exc)
        except ListenError as exc:
            return error_response(internal(str(exc)))
        except ConnectionError as exc:  # the client went away: nobody to answer, nothing wrong here
            log.debug("%s %s: the client left: %r", request.method, path, exc)
            return error_response(BAD_REQUEST_BODY.joined(str(exc)))
        except Exception as exc:  # noqa: BLE001 - the API must answer, never die or show a traceback
            log.warning("%s %s failed: %r", request.method, path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return error_response(internal(str(exc) or type(exc).__name__))

    # --- proxies ------------------------------------------------------------------------------
    async def proxy_index(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxies = self.collection.proxies
        return json_response({name: proxies[name].to_json() for name in sorted(proxies)})

    async def proxy_create(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        raw = await _body(request)
        fields: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": True}
        error = gojson.decode_struct(_parse(raw), _PROXY_FIELDS, fields, struct="Proxy", go_type="toxiproxy.Proxy")
        if error is not None:
            raise BAD_REQUEST_BODY.joined(error)
        if not fields["name"]:
            raise MISSING_FIELD.joined("name")
        if not fields["upstream"]:
            raise MISSING_FIELD.joined("upstream")
        async with self.lock:
            proxy = Proxy(self.loop, fields["name"], fields["listen"], fields["upstream"])
            await self.collection.add(proxy, fields["enabled"])
            return json_response(proxy.to_json(), status=201)

    def _decode_populate(self, raw: bytes) -> list[dict[str, Any]]:
        body = _parse(raw)
        if body is None:
            return []
        if not isinstance(body, list):
            raise BAD_REQUEST_BODY.joined(gojson.unmarshal_error(gojson.kind_of(body), "[]" + _POPULATE_ITEM))
        items: list[dict[str, Any]] = []
        first_error: str | None = None
        for element in body:
            fields: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": None}
            error = gojson.decode_struct(element, _PROXY_FIELDS, fields, struct="", go_type=_POPULATE_ITEM)
            first_error = first_error or error
            items.append(fields)
        if first_error is not None:
            raise BAD_REQUEST_BODY.joined(first_error)
        for i, fields in enumerate(items, start=1):
            if not fields["name"]:
                raise MISSING_FIELD.joined(f"name at proxy {i}")
            if not fields["upstream"]:
                raise MISSING_FIELD.joined(f"upstream at proxy {i}")
        return items

    async def populate_items(self, items: list[dict[str, Any]]) -> tuple[list[Proxy], ApiError | None]:
        """Add or replace proxies in order; stops at the first failure: (proxies done, the failure)."""
        done: list[Proxy] = []
        async with self.lock:
            for fields in items:
                proxy = Proxy(self.loop, fields["name"], fields["listen"], fields["upstream"])
                enabled = True if fields["enabled"] is None else fields["enabled"]
                try:
                    done.append(await self.collection.add_or_replace(proxy, enabled))
                except ApiError as exc:
                    return done, exc
        return done, None

    async def populate(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        raw = await _body(request)
        proxies: list[Proxy] = []
        try:
            proxies, error = await self.populate_items(self._decode_populate(raw))
        except ApiError as exc:
            error = exc
        # Go marshals an empty result slice as null.
        listed = [p.to_json() for p in proxies] or None
        if error is None:
            return json_response({"proxies": listed}, status=201)
        return json_response({"error": error.message, "status": error.status, "proxies": listed},
                             status=error.status)

    async def proxy_show(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return json_response(self.collection.get(params["proxy"]).to_json())

    async def proxy_update(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        raw = await _body(request)
        fields: dict[str, Any] = {"name": proxy.name, "listen": proxy.listen, "upstream": proxy.upstream,
                                  "enabled": proxy.enabled}
        error = gojson.decode_struct(_parse(raw), _PROXY_FIELDS, fields, struct="Proxy", go_type="toxiproxy.Proxy")
        if error is not None:
            raise BAD_REQUEST_BODY.joined(error)
        async with self.lock:
            await proxy.update(fields["listen"], fields["upstream"], fields["enabled"])
            return json_response(proxy.to_json())

    async def proxy_delete(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        async with self.lock:
            self.collection.remove(params["proxy"])
        return no_content()

    async def reset(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        async with self.lock:
            for proxy in list(self.collection.proxies.values()):
                if not proxy.enabled:
                    await proxy.start()
                proxy.reset_toxics()
        return no_content()

    # --- toxics -------------------------------------------------------------------------------
    async def toxic_index(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        return json_response([t.to_json() for t in proxy.toxic_list()])

    async def toxic_create(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        raw = await _body(request)
        async with self.lock:
            spec = parse_new_toxic(raw, lambda name: proxy.find_toxic(name) is not None)
            proxy.add_toxic(spec)
            return json_response(spec.to_json())

    async def toxic_show(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        return json_response(proxy.get_toxic(params["toxic"]).to_json())

    async def toxic_update(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        proxy.get_toxic(params["toxic"])
        raw = await _body(request)
        async with self.lock:
            spec = parse_toxic_update(raw, proxy.get_toxic(params["toxic"]))
            proxy.update_toxic(spec)
            return json_response(spec.to_json())

    async def toxic_delete(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        proxy = self.collection.get(params["proxy"])
        async with self.lock:
            proxy.remove_toxic(params["toxic"])
        return no_content()

    async def version(self, request: web.BaseRequest, params: dict[str, str]) -> web.Response:
        return web.Response(body=f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(),
                            headers={"Content-Type": "application/json;charset=utf-8"})
