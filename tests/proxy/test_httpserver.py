"""The API's HTTP server log: a malformed request is one DEBUG line; a real error one line, its traceback
only under DEBUG; never aiohttp's "Error handling request" traceback."""
from __future__ import annotations

import logging
import socket

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from chaosrunner.proxy import start_in_thread
from chaosrunner.proxy.httpserver import HttpServerLog


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger="chaosrunner.proxy.http")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    return caplog


def test_a_malformed_request_is_one_debug_line_without_traceback(records):
    with start_in_thread() as server, socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.0 400 Bad Request")
    notes = [r for r in records.records if r.name.startswith(("chaosrunner.proxy", "aiohttp"))]
    assert [(r.name, r.levelno) for r in notes] == [("chaosrunner.proxy.http", logging.DEBUG)]
    assert notes[0].exc_info is None and "\n" not in notes[0].getMessage()
    assert notes[0].getMessage() == ("malformed request (Error handling request from 127.0.0.1): "
                                     "BadHttpMessage: Invalid header token: b'Bad Header' ^")


def failure() -> RuntimeError:
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        return exc


def test_a_real_error_is_one_line_with_its_traceback_only_under_debug(caplog):
    logger = logging.getLogger("test.httpserver")
    adapter = HttpServerLog(logger)
    caplog.set_level(logging.INFO, logger="test.httpserver")
    adapter.exception("Unhandled exception", exc_info=failure())
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.ERROR, "Unhandled exception: RuntimeError: a bug", None)]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="test.httpserver")
    adapter.exception("Unhandled exception", exc_info=failure())
    assert caplog.records[0].levelno == logging.ERROR and caplog.records[0].exc_info is not None


def test_client_garbage_and_departures_are_debug(caplog):
    adapter = HttpServerLog(logging.getLogger("test.httpserver"))
    caplog.set_level(logging.DEBUG, logger="test.httpserver")
    cause = BadHttpMessage("Invalid header token:\n\n  b'Bad Header'\n  ^")
    payload_error = RuntimeError("wrapped")
    payload_error.__cause__ = cause
    adapter.exception("Unhandled exception", exc_info=payload_error)
    adapter.exception("Error handling request from %s", "127.0.0.1", exc_info=ConnectionResetError("gone"))
    adapter.debug("Ignored premature client disconnection")
    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.DEBUG, None)] * 3
    assert caplog.records[0].getMessage() == ("malformed request (Unhandled exception): BadHttpMessage: "
                                              "Invalid header token: b'Bad Header' ^")
