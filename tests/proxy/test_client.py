"""The toxiproxy-python client against the server, gaps included (version() bytes, 500 -> KeyError)."""
from __future__ import annotations

import json
import socket

import pytest
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from .helpers import connect, round_trip


def test_client_lifecycle(toxi, upstream):
    assert toxi.running() is True
    assert json.loads(toxi.version())["version"].startswith("2.")  # bytes, as the client returns them
    proxy = toxi.create(upstream=upstream.address, name="pg")  # the client asks for 127.0.0.1:0
    assert proxy.enabled is True and proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(toxi.proxies()) == {"pg"} and toxi.get_proxy("pg").upstream == upstream.address
    with pytest.raises(ProxyExists):
        toxi.create(upstream=upstream.address, name="pg")

    proxy.add_toxic(type="latency", attributes={"latency": 50})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="bw", toxicity=0.5, attributes={"rate": 1000})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "bw"}
    assert toxics["bw"].stream == "upstream" and toxics["bw"].toxicity == 0.5
    assert proxy.get_toxic("latency_downstream").attributes == {"latency": 50, "jitter": 0}
    with pytest.raises(ProxyExists):  # 409 for a duplicate toxic
        proxy.add_toxic(type="latency")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    assert proxy.destroy_toxic("bw") is True
    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.toxics() == {}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")

    host, port = proxy.listen.rsplit(":", 1)
    with proxy.down():
        assert toxi.get_proxy("pg").enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect((host, int(port)), timeout=2)
    with connect((host, int(port))) as sock:
        round_trip(sock)

    proxy.disable()
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    assert toxi.reset() is True
    assert toxi.get_proxy("pg").enabled is True and proxy.toxics() == {}
    assert toxi.destroy(proxy) is True
    assert toxi.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()


def test_client_populate_keeps_same_and_replaces_changed(toxi, upstream):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{s.getsockname()[1]}"
    created = toxi.populate([{"name": "a", "upstream": upstream.address, "listen": listen}])
    assert [p.name for p in created] == ["a"]
    assert toxi.populate([{"name": "a", "upstream": upstream.address, "listen": listen}]) == []
    replaced = toxi.populate([{"name": "a", "upstream": "127.0.0.1:1", "listen": listen}])
    assert [p.upstream for p in replaced] == ["127.0.0.1:1"]
    toxi.destroy_all()
    assert toxi.proxies() == {}


def test_client_gap_a_500_becomes_key_error(toxi, upstream):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(KeyError):
            toxi.create(upstream=upstream.address, name="x", listen=f"127.0.0.1:{busy.getsockname()[1]}")
    assert toxi.proxies() == {}
