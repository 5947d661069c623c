"""Each toxic's effect on real traffic through the proxy, measured against a real local upstream."""
from __future__ import annotations

import os
import select
import selectors
import socket
import time

import pytest

from .helpers import connect, read_until_closed, recv_exactly, round_trip

MS = 0.001
# A proxied round trip on loopback takes a few ms; this bound leaves room for a busy machine and is
# still below every toxic it tells apart (the 200-500 ms latencies of the tests that use it).
FAST = 150 * MS


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
        assert round_trip(sock) < FAST
        toxic = add("latency", attributes={"latency": 200})  # live on an existing connection
        sends: list[float] = []
        arrivals: dict[int, float] = {}
        next_send = time.monotonic()
        deadline = next_send + 10
        # 5 chunks 40 ms apart, each delayed 200 ms from its own arrival; the reader stays ready
        # between sends so that an arrival is stamped when it happens, not after the last send
        while len(arrivals) < 5:
            assert time.monotonic() < deadline, (sends, arrivals)
            if len(sends) < 5 and time.monotonic() >= next_send:
                sends.append(time.monotonic())
                sock.sendall(bytes([65 + len(sends) - 1]))
                next_send += 40 * MS
            wait = max(0.0, next_send - time.monotonic()) if len(sends) < 5 else 1.0
            if select.select([sock], [], [], wait)[0]:
                for byte in sock.recv(10):
                    arrivals[byte - 65] = time.monotonic()
        delays = [arrivals[i] - sends[i] for i in range(5)]
        # each chunk waits its own 200 ms: a proxy that held them one after another would delay
        # chunk 2 by >= 520 ms, one that timed them all from the first would delay chunk 4 by < 190 ms
        assert all(190 * MS <= d <= 450 * MS for d in delays), delays
        # overlapping: one at a time would take >= 5 × 200 ms from the first send to the last arrival
        assert arrivals[4] - sends[0] < 900 * MS, (sends, arrivals)
        remove(toxic)
        assert round_trip(sock) < FAST  # the 200 ms toxic is gone


def test_latency_jitter_upstream_and_chained_toxics_add_up(proxied):
    add, remove, open_conn, _ = proxied
    add("latency", "up", stream="upstream", attributes={"latency": 60, "jitter": 20})
    with open_conn() as sock:
        samples = [round_trip(sock) for _ in range(8)]
        # 60 ± 20 ms: never below 40 ms (lower bound exact); the upper bound has room for a busy
        # machine and still tells the toxic apart from a latency taken in seconds
        assert all(38 * MS <= s <= 300 * MS for s in samples), samples
        add("latency", "down", attributes={"latency": 60})
        assert round_trip(sock) >= 100 * MS
    remove("up")
    remove("down")


def test_latency_update_is_live_and_releases_held_data(api, proxied):
    add, remove, open_conn, name = proxied
    toxic = add("latency", attributes={"latency": 3000})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"held")
        time.sleep(100 * MS)  # the chunk reaches the proxy and is held there
        r = api.patch(f"/proxies/{name}/toxics/{toxic}", json={"attributes": {"latency": 0}})
        assert r.json()["attributes"]["latency"] == 0
        assert recv_exactly(sock, 4) == b"held"
        # released by the update: held to the end it would arrive >= 3 s after the send
        assert time.monotonic() - start < 1.5
        assert round_trip(sock) < FAST
    remove(toxic)


def test_bandwidth_paces(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("bandwidth", attributes={"rate": 100})  # 100 KB/s
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"x" * 50_000)
        assert recv_exactly(sock, 50_000) == b"x" * 50_000
        elapsed = time.monotonic() - start
    # 50 KB at 100 KB/s is 0.5 s; the upper bound leaves room for a busy machine and still tells
    # the pacing apart from one 10× too slow (5 s)
    assert 0.45 <= elapsed <= 2.2, elapsed
    remove(toxic)


def test_slicer_slices_and_spaces_the_pieces(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("slicer", attributes={"average_size": 10, "size_variation": 4, "delay": 20_000})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(bytes(range(100)))
        pieces = []
        while sum(map(len, pieces)) < 100:
            pieces.append(sock.recv(100))
        elapsed = time.monotonic() - start
    assert b"".join(pieces) == bytes(range(100))
    # pieces are at most 14 bytes, 20 ms apart; a reader held up for a moment may find two or three
    # of them waiting together, never the whole 100 bytes
    assert len(pieces) >= 5 and max(map(len, pieces)) <= 60, pieces
    assert elapsed >= 120 * MS  # >= 8 pieces: >= 7 gaps of 20 ms
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
        assert read_until_closed(sock, 10)[1] in ("eof", "reset")


def test_timeout_closes_after_its_delay(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("timeout", attributes={"timeout": 200})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"dropped")
        data, how = read_until_closed(sock, 10)
        elapsed = time.monotonic() - start
    # closed after 200 ms; a toxic that never closed would hold it open for the whole 10 s read
    assert (data, how) == (b"", "eof") and 180 * MS <= elapsed <= 1800 * MS, elapsed
    remove(toxic)


@pytest.mark.parametrize("timeout_ms", [0, 150])
def test_reset_peer_sends_a_rst(proxied, timeout_ms):
    add, remove, open_conn, _ = proxied
    toxic = add("reset_peer", attributes={"timeout": timeout_ms})
    with open_conn() as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        _data, how = read_until_closed(sock, 10)
        elapsed = time.monotonic() - start
    assert how == "reset"
    assert timeout_ms * MS * 0.9 <= elapsed <= timeout_ms * MS + 1.5, elapsed  # not held open
    remove(toxic)


def test_slow_close_delays_the_close(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("slow_close", attributes={"delay": 300})
    with open_conn() as sock:
        sock.sendall(b"bye")
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)  # the upstream closes on EOF; its close reaches us 300 ms later
        data, how = read_until_closed(sock, 10)
        elapsed = time.monotonic() - start
    assert (data, how) == (b"bye", "eof") and elapsed >= 280 * MS, elapsed
    remove(toxic)


def test_noop_and_zero_toxicity_change_nothing(proxied):
    add, remove, open_conn, _ = proxied
    add("noop")
    add("latency", "never", toxicity=0.0, attributes={"latency": 500})
    with open_conn() as sock:
        assert round_trip(sock) < FAST  # the 500 ms latency never applies
    remove("noop_downstream")
    remove("never")


def test_toxicity_is_a_coin_flip_per_connection(proxied):
    add, remove, open_conn, _ = proxied
    toxic = add("latency", toxicity=0.5, attributes={"latency": 600})
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
    # a delayed answer comes >= 600 ms after the send; an undelayed one within a few ms (300 ms
    # leaves room for a busy machine reading 30 sockets)
    slow = sum(d >= 300 * MS for d in delays)
    assert 0 < slow < 30, delays
    remove(toxic)


def test_toxics_apply_in_insertion_order(proxied):
    add, remove, open_conn, _ = proxied
    add("limit_data", "limit", attributes={"bytes": 4})
    add("latency", "slow", attributes={"latency": 200})
    with open_conn() as sock:  # the limit's close travels behind the data through the latency toxic
        start = time.monotonic()
        sock.sendall(b"abcdefgh")
        data, how = read_until_closed(sock, 10)
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
    assert read_until_closed(sock, 10)[1] == "reset"  # SO_LINGER 0: a RST, no TIME_WAIT on our side
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
        assert read_until_closed(sock, 10)[1] in ("eof", "reset")
    with open_conn() as sock:
        assert round_trip(sock) < FAST


def test_hundreds_of_concurrent_connections(proxied):
    _add, _remove, open_conn, _ = proxied
    socks = [open_conn() for _ in range(300)]
    for i, sock in enumerate(socks):
        sock.sendall(str(i).encode().ljust(8))
    for i, sock in enumerate(socks):
        assert recv_exactly(sock, 8) == str(i).encode().ljust(8)
        sock.close()
