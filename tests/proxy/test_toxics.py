"""Each toxic's effect on real traffic through the proxy, measured against a real local upstream."""
from __future__ import annotations

import os
import selectors
import socket
import time

import pytest

from .helpers import connect, read_until_closed, recv_exactly, round_trip

MS = 0.001


@pytest.fixture
def proxied(api, make_proxy):
    """A proxy to the echo upstream; yields (add_toxic, connect_to_proxy) and checks no toxic is left."""
    name, addr = make_proxy("toxic")

    def add(kind: str, toxic_name: str | None = None, **body):
        payload = {"type": kind, **body}
        if toxic_name:
            payload["name"] = toxic_name
        r = api.post(f"/proxies/{name}/toxics", json=payload)
        assert r.status_code == 200, r.text
        return r.json()["name"]

    def remove(toxic_name: str):
        assert api.delete(f"/proxies/{name}/toxics/{toxic_name}").status_code == 204

    yield add, remove, (lambda: connect(addr)), name
    assert api.get(f"/proxies/{name}/toxics").json() == []


def test_no_toxic_passes_bytes_both_ways(proxied):
    _add, _remove, open_conn, _ = proxied
    with open_conn() as sock:
        payload = os.urandom(1 << 20)
        sock.sendall(payload[:1000])
        assert recv_exactly(sock, 1000) == payload[:1000]
        assert round_trip(sock, payload) < 5


def test_latency_delays_each_chunk_from_its_arrival(proxied):
    add, remove, open_conn, _ = proxied
    with open_conn() as sock:
        assert round_trip(sock) < 50 * MS
        toxic = add("latency", attributes={"latency": 200})  # live on an existing connection
        sends, arrivals = [], {}
        for i in range(5):  # 5 chunks 40 ms apart: each is delayed 200 ms from its own arrival
            sends.append(time.monotonic())
            sock.sendall(bytes([65 + i]))
            time.sleep(40 * MS)
        while len(arrivals) < 5:
            for byte in sock.recv(10):
                arrivals[byte - 65] = time.monotonic()
        delays = [arrivals[i] - sends[i] for i in range(5)]
        assert all(190 * MS <= d <= 300 * MS for d in delays), delays
        assert arrivals[4] - sends[0] < 500 * MS  # overlapping, not 5 × 200 ms
        remove(toxic)
        assert round_trip(sock) < 50 * MS


def test_latency_jitter_upstream_and_chained_toxics_add_up(proxied):
    add, remove, open_conn, _ = proxied
    add("latency", "up", stream="upstream", attributes={"latency": 60, "jitter": 20})
    with open_conn() as sock:
        samples = [round_trip(sock) for _ in range(8)]
        assert all(38 * MS <= s <= 150 * MS for s in samples), samples
        add("latency", "down", attributes={"latency": 60})
        assert round_trip(sock) >= 100 * MS
    remove("up")
    remove("down")


def test_latency_update_is_live_and_releases_held_data(api, proxied):
    add, remove, open_conn, name = proxied
    toxic = add("latency", attributes={"latency": 400})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"held")
        time.sleep(50 * MS)
        r = api.patch(f"/proxies/{name}/toxics/{toxic}", json={"attributes": {"latency": 0}})
        assert r.json()["attributes"]["latency"] == 0
        assert recv_exactly(sock, 4) == b"held"
        assert time.monotonic() - start < 300 * MS
        assert round_trip(sock) < 50 * MS
    remove(toxic)


def test_bandwidth_paces(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("bandwidth", attributes={"rate": 100})  # 100 KB/s
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"x" * 50_000)
        assert recv_exactly(sock, 50_000) == b"x" * 50_000
        elapsed = time.monotonic() - start
    assert 0.45 <= elapsed <= 1.2, elapsed
    remove(toxic)


def test_slicer_slices_and_spaces_the_pieces(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("slicer", attributes={"average_size": 10, "size_variation": 4, "delay": 10_000})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(bytes(range(100)))
        pieces = []
        while sum(map(len, pieces)) < 100:
            pieces.append(sock.recv(100))
        elapsed = time.monotonic() - start
    assert b"".join(pieces) == bytes(range(100))
    assert len(pieces) >= 5 and max(map(len, pieces)) <= 30, pieces
    assert elapsed >= 60 * MS
    remove(toxic)


def test_limit_data_closes_after_n_bytes(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("limit_data", attributes={"bytes": 10})
    with open_conn() as sock:
        sock.sendall(b"0123456789abcdef")
        data, how = read_until_closed(sock)
    assert (data, how) == (b"0123456789", "eof")
    remove(toxic)


def test_timeout_zero_holds_and_removing_it_closes(proxied):
    add, remove, open_conn, _ = proxied
    with open_conn() as sock:
        toxic = add("timeout", attributes={"timeout": 0})
        sock.sendall(b"lost")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        remove(toxic)  # the real server's cleanup closes the connections it held
        assert read_until_closed(sock, 2)[1] in ("eof", "reset")


def test_timeout_closes_after_its_delay(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("timeout", attributes={"timeout": 200})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"dropped")
        data, how = read_until_closed(sock, 3)
        elapsed = time.monotonic() - start
    assert (data, how) == (b"", "eof") and 180 * MS <= elapsed <= 800 * MS, elapsed
    remove(toxic)


@pytest.mark.parametrize("timeout_ms", [0, 150])
def test_reset_peer_sends_a_rst(proxied, timeout_ms):
    add, remove, open_conn, _ = proxied
    toxic = add("reset_peer", attributes={"timeout": timeout_ms})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        _data, how = read_until_closed(sock, 3)
        elapsed = time.monotonic() - start
    assert how == "reset"
    assert timeout_ms * MS * 0.9 <= elapsed <= timeout_ms * MS + 0.5
    remove(toxic)


def test_slow_close_delays_the_close(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("slow_close", attributes={"delay": 300})
    with open_conn() as sock:
        sock.sendall(b"bye")
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)  # the upstream closes on EOF; its close reaches us 300 ms later
        data, how = read_until_closed(sock, 3)
        elapsed = time.monotonic() - start
    assert (data, how) == (b"bye", "eof") and elapsed >= 280 * MS, elapsed
    remove(toxic)


def test_noop_and_zero_toxicity_change_nothing(proxied):
    add, remove, open_conn, _ = proxied
    add("noop")
    add("latency", "never", toxicity=0.0, attributes={"latency": 500})
    with open_conn() as sock:
        assert round_trip(sock) < 100 * MS
    remove("noop_downstream")
    remove("never")


def test_toxicity_is_a_coin_flip_per_connection(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("latency", toxicity=0.5, attributes={"latency": 150})
    socks = [open_conn() for _ in range(30)]
    time.sleep(50 * MS)  # every link is set up (and has flipped its coin)
    start = time.monotonic()
    for sock in socks:
        sock.sendall(b"?")
    delays = []
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while len(delays) < len(socks):
            for key, _ in selector.select(5):
                assert key.fileobj.recv(1) == b"?"
                delays.append(time.monotonic() - start)
                selector.unregister(key.fileobj)
    for sock in socks:
        sock.close()
    slow = sum(d >= 140 * MS for d in delays)
    assert 0 < slow < 30, delays
    remove(toxic)


def test_toxics_apply_in_insertion_order(proxied):
    add, remove, open_conn, _ = proxied
    add("limit_data", "limit", attributes={"bytes": 4})
    add("latency", "slow", attributes={"latency": 200})
    with open_conn() as sock:  # the limit's close travels behind the data through the latency toxic
        start = time.monotonic()
        sock.sendall(b"abcdefgh")
        data, how = read_until_closed(sock, 3)
        assert (data, how) == (b"abcd", "eof") and time.monotonic() - start >= 190 * MS
    remove("limit")
    remove("slow")


@pytest.mark.parametrize("change", ["disable", "delete", "repoint"])
def test_stopping_a_proxy_resets_live_connections_and_refuses_new(api, make_proxy, upstream, change):
    name, addr = make_proxy("stop")
    sock = connect(addr)
    round_trip(sock)
    if change == "disable":
        r = api.patch(f"/proxies/{name}", json={"enabled": False})
    elif change == "delete":
        r = api.delete(f"/proxies/{name}")
    else:
        r = api.patch(f"/proxies/{name}", json={"upstream": f"127.0.0.1:{upstream.port}", "listen": "127.0.0.1:0"})
    assert r.status_code in (200, 204)
    assert read_until_closed(sock, 2)[1] == "reset"  # SO_LINGER 0: a RST, no TIME_WAIT on our side
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        connect(addr, timeout=2)


def test_garbage_and_abrupt_clients_on_a_proxied_port(proxied, make_proxy):
    _add, _remove, open_conn, _ = proxied
    for _ in range(20):
        sock = open_conn()
        sock.sendall(os.urandom(3000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST mid-stream
    _name, dead_addr = make_proxy("dead", upstream_addr="127.0.0.1:1")
    with connect(dead_addr) as sock:  # upstream refuses: the client is closed, the server lives on
        assert read_until_closed(sock, 3)[1] in ("eof", "reset")
    with open_conn() as sock:
        assert round_trip(sock) < 100 * MS


def test_hundreds_of_concurrent_connections(proxied):
    _add, _remove, open_conn, _ = proxied
    socks = [open_conn() for _ in range(300)]
    for i, sock in enumerate(socks):
        sock.sendall(str(i).encode().ljust(8))
    for i, sock in enumerate(socks):
        assert recv_exactly(sock, 8) == str(i).encode().ljust(8)
        sock.close()
