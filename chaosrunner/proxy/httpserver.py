"""aiohttp's HTTP/1.1 server for the API, made to fail as Go's net/http does: never a hang, never a traceback.

Three things differ from a plain ``web.AppRunner``:

- **the log** (:class:`HttpServerLog`): aiohttp answers a malformed request (a bad request line or
  header, an invalid Content-Length or chunk, a line over 8190 bytes...) with a 400 and closes the
  connection, which is right, but logs it at ERROR with the parser's traceback ("Error handling
  request"), and a body it could not parse after the handler answered as "Unhandled exception". A
  client's garbage, or a client gone, is not the server's error: one DEBUG line. Anything else is
  logged at its level on one line, its traceback only when DEBUG is on.
- **a body that turns out malformed** (:class:`ApiRequestHandler`): aiohttp's C parser, meeting a bad
  chunk after the head was handed to a handler, queues a 400 but leaves the body's reader without an
  error or an end: the handler reading it waited forever, and the 400 waited for the handler. Here
  the reader fails, and the handler answers 400 "bad request body", as Go's does.
- **no decompression** (``auto_decompress=False`` where aiohttp has it): Go's server does not undo a
  ``Content-Encoding``, so a body is JSON or a 400, never a decompression error nor a zip bomb.

The handler is one catch-all callable (``Api.dispatch``) on aiohttp's low-level server: the API does
its own routing, as the real server's gorilla/mux does, so no ``web.Application`` is needed.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger("chaosrunner.proxy.http")

#: The largest request body read (the real server has no limit; its bodies are a few hundred bytes).
MAX_BODY = 64 * 1024 * 1024


def client_error(exc: BaseException | None) -> HttpProcessingError | None:
    """The HTTP parsing error behind ``exc`` (itself, or in its cause/context chain), if any."""
    for _ in range(10):
        if exc is None or isinstance(exc, HttpProcessingError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def one_line(exc: BaseException, limit: int = 200) -> str:
    detail = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    text = " ".join(f"{type(exc).__name__}: {detail}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1]
    return sys.exc_info()[1] if exc_info else None


class HttpServerLog(logging.LoggerAdapter):
    """What aiohttp's ``RequestHandler`` logs through (its ``logger=``), one line per event."""

    def __init__(self, logger: logging.Logger = log) -> None:
        super().__init__(logger, {})

    def log(self, level: int, msg: Any, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        exc = _exception(exc_info)
        bad_request = client_error(exc)
        if bad_request is not None or isinstance(exc, ConnectionError):
            level = logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(map(str, (msg, *args)))
        if bad_request is not None:
            self.logger.debug("malformed request (%s): %s", text, one_line(bad_request))
        elif exc is None:
            self.logger.log(level, "%s", text)
        else:
            trace = exc if self.logger.isEnabledFor(logging.DEBUG) and level > logging.DEBUG else None
            self.logger.log(level, "%s: %s", text, one_line(exc), exc_info=trace)

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, exc_info=exc_info)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.CRITICAL, msg, *args, **kwargs)


class ApiRequestHandler(web.RequestHandler):
    """aiohttp's protocol for one connection, whose handler's body reader fails with the request.

    ``reading`` is the body a handler is reading (set by ``reading_body``). When the bytes just
    received made aiohttp's parser give up (it queues a 400: the last queued message carries the
    parsing error), that reader gets the error instead of waiting for bytes that will never be parsed.
    """

    reading: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        body = self.reading
        if body is None or body.is_eof() or body.exception() is not None:
            return
        queued = getattr(self, "_messages", None)
        failure = getattr(queued[-1][0], "exc", None) if queued else None
        if isinstance(failure, HttpProcessingError):
            error = RequestPayloadError(one_line(failure))
            error.__cause__ = failure
            body.set_exception(error)


async def reading_body(request: web.BaseRequest) -> bytes:
    """``request.read()``, failing (``RequestPayloadError``) if the request turns out malformed meanwhile."""
    protocol = request.protocol
    if not isinstance(protocol, ApiRequestHandler):
        return await request.read()
    protocol.reading = request.content
    try:
        return await request.read()
    finally:
        protocol.reading = None


class ApiServer(web.Server):
    """aiohttp's low-level server making :class:`ApiRequestHandler` connections and bodies up to ``MAX_BODY``."""

    def __init__(self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], **options: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.options = options
        super().__init__(handler, request_factory=self.make_request, loop=self.loop, **options)

    def __call__(self) -> ApiRequestHandler:
        return ApiRequestHandler(self, loop=self.loop, **self.options)

    def make_request(self, message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, self.loop, client_max_size=MAX_BODY)


def make_runner(handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]) -> web.ServerRunner:
    options: dict[str, Any] = {"logger": HttpServerLog(), "access_log": None}
    if "auto_decompress" in inspect.signature(web.RequestHandler.__init__).parameters:
        options["auto_decompress"] = False
    return web.ServerRunner(ApiServer(handler, **options), handle_signals=False, shutdown_timeout=1.0)
