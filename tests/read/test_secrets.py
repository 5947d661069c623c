"""Secrets: redacted wherever text leaves the process (every occurrence, before any cut), written as their
references where they must be resolved again later (the ledger, Locust), and resolved back exactly."""
from __future__ import annotations

import asyncio
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chaosrunner.errors import ConfigError, ConfigErrors, Location
from chaosrunner.model.probes import HttpProbeSpec
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.read.resolve import Secrets, StreamRedactor, resolve_secret_references

TOKEN, KEY = "tok-1234567890abcdef", "key-ABCDEFGHIJKLMNOP"


@pytest.fixture
def secrets(tmp_path, monkeypatch) -> Secrets:
    monkeypatch.setenv("CR_TEST_TOKEN", TOKEN)
    (tmp_path / "key").write_text(KEY + "\n")
    s = Secrets()
    s.add(TOKEN, "${env:CR_TEST_TOKEN}")
    s.add(KEY, "${file:%s}" % (tmp_path / "key"))
    return s


def pieces(value: str) -> list[str]:
    return [value[i:i + 8] for i in range(len(value) - 7)]


def test_every_occurrence_is_redacted_overlapping_ones_too():
    s = Secrets()
    s.add("abcdefgh")
    s.add("efghijkl")
    assert s.redact("<abcdefghijkl> abcdefgh efghijkl") == "<***> *** ***"


def test_clip_redacts_before_it_cuts(secrets):
    text = "x" * 190 + TOKEN + " and more"
    clipped = secrets.clip(text, 200)
    assert len(clipped) <= 200 and not any(p in clipped for p in pieces(TOKEN))
    assert text[:200].endswith(TOKEN[:10])            # what cutting first would have kept


@given(st.lists(st.sampled_from([TOKEN, KEY, "${", "$${", "}", "$", "{", "a", "${x}", "tok-", "\n"]), max_size=12))
@example(["$", TOKEN])
@example(["a$b"])
def test_referenced_text_resolves_back_exactly_and_holds_no_secret(parts):
    # hypothesis does not take function-scoped fixtures: the file secret is an environment one here too
    import os

    os.environ["CR_TEST_TOKEN"], os.environ["CR_TEST_KEY"] = TOKEN, KEY
    s = Secrets()
    s.add(TOKEN, "${env:CR_TEST_TOKEN}")
    s.add(KEY, "${env:CR_TEST_KEY}")
    text = "".join(parts)
    stored = s.referenced(text)
    assert TOKEN not in stored and KEY not in stored
    assert resolve_secret_references(stored) == text


def test_resolving_names_what_is_missing(secrets, monkeypatch, tmp_path):
    stored = secrets.referenced_obj({"api": f"http://u:{TOKEN}@h", "cmd": [f"run --key={KEY}"]})
    assert stored == {"api": "http://u:${env:CR_TEST_TOKEN}@h", "cmd": ["run --key=${file:%s}" % (tmp_path / "key")]}
    assert secrets.referenced("cost: $5, ${HOME}") == "cost: $$5, $${HOME}"     # literal $ doubled
    found = Secrets()
    assert resolve_secret_references(stored, found) == {"api": f"http://u:{TOKEN}@h", "cmd": [f"run --key={KEY}"]}
    assert found.values == {TOKEN, KEY}
    monkeypatch.delenv("CR_TEST_TOKEN")
    with pytest.raises(ConfigError, match="environment variable CR_TEST_TOKEN is not set"):
        resolve_secret_references(stored)
    (tmp_path / "key").unlink()
    with pytest.raises(ConfigError, match="cannot read secret file"):
        resolve_secret_references(stored["cmd"])


@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40))
def test_a_stream_is_redacted_as_a_whole_whatever_its_chunks(sizes):
    s = Secrets()
    s.add(TOKEN)
    s.add(KEY)
    text = f"start {TOKEN} middle {KEY}{TOKEN} x {KEY[:5]} end " * 3
    redactor, out, at = StreamRedactor(s), "", 0
    for n in sizes * 10:
        out += redactor.feed(text[at:at + n])
        at += n
    out += redactor.feed(text[at:]) + redactor.flush()
    # the same text; two secrets side by side may come out as one *** or two
    assert re.sub(r"(\*\*\*)+", "***", out) == s.redact(text) and TOKEN not in out and KEY not in out


def test_scrub_redacts_an_error_in_place(secrets):
    exc = ConfigErrors([ConfigError(f"bad {TOKEN}", Location("f.yaml", 3, 4), f"not {KEY}"),
                        ConfigError("fine")])
    assert secrets.scrub(exc) is exc
    assert TOKEN not in str(exc) and KEY not in exc.render() and "bad ***" in exc.errors[0].message
    plain = RuntimeError(f"api http://u:{TOKEN}@h failed")
    assert str(secrets.scrub(plain)) == "api http://u:***@h failed"


class Echo(BaseHTTPRequestHandler):
    """503 with a body that echoes the request line after 180 characters of padding."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = ("." * 180 + self.requestline).encode()
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_probe_error_that_echoes_a_secret_is_redacted_then_cut(secrets):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/p/{TOKEN}"
        probe = build_probe(HttpProbeSpec(type="http", url=url), "echo", ProbeContext(secrets=secrets))

        async def check():
            try:
                return await probe.check()
            finally:
                await probe.close()

        outcome = asyncio.run(check())
    finally:
        server.shutdown()
        server.server_close()
    assert not outcome.ok and outcome.error.startswith("HTTP 503") and len(outcome.error) <= 200
    assert not any(p in outcome.error for p in pieces(TOKEN))
    assert probe.url == url                               # the probe's own attributes, through the wrapper
