"""Fixtures for the fault proxy tests: one server on a free loopback port, a real upstream, clients."""
from __future__ import annotations

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

from chaosrunner.proxy import start_in_thread

from .helpers import Api, Upstream


@pytest.fixture(scope="session")
def server():
    handle = start_in_thread("127.0.0.1", 0)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def upstream():
    up = Upstream()
    yield up
    up.stop()


@pytest.fixture
def api(server):
    """Raw HTTP against the server; every proxy is deleted after the test."""
    session = Api(server.api_url)
    yield session
    for name in list(session.get("/proxies").json()):
        session.delete(f"/proxies/{name}")
    assert session.get("/proxies").json() == {}
    session.close()


@pytest.fixture
def toxi(server, api):
    """A toxiproxy-python client pointed at the server."""
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = server.host, server.port
    yield toxiproxy.Toxiproxy()
    APIConsumer.host, APIConsumer.port = saved


@pytest.fixture
def make_proxy(api, upstream):
    """Create a proxy to the upstream (listen 127.0.0.1:0) and return (name, (host, port))."""
    def make(name: str = "p", upstream_addr: str | None = None, **extra):
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream_addr or upstream.address, **extra}
        r = api.post("/proxies", json=body)
        assert r.status_code == 201, r.text
        host, port = r.json()["listen"].rsplit(":", 1)
        return name, (host, int(port))
    return make


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    # requests must never route loopback calls through an environment proxy.
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A real ``chaosrunner proxy serve`` child process (metrics on), its log in a file (fuzz tests)."""
    from .fuzzing import ServedProxy

    proc = ServedProxy(tmp_path_factory.mktemp("served") / "proxy.log")
    yield proc
    proc.assert_quiet_log("the end of the session")
    assert proc.stop() == 0


@pytest.fixture(scope="session")
def baseline(served, upstream):
    """The served proxy's starting state for every fuzz example: ``p`` to the echo upstream, with toxics."""
    from .fuzz_state import Baseline

    return Baseline(served, upstream.address)
