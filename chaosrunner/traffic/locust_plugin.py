"""Locust-side plugin: streams per-second request statistics to the chaosrunner process.

This file runs INSIDE Locust (``locust -f locust_plugin.py,userfile.py``), never inside
chaosrunner: chaosrunner must not import it (it imports locust, hence gevent's monkey-patching).

Every Locust process that runs users (the standalone process, or each worker) keeps, per
one-second bucket of ``time.monotonic()`` (a system-wide clock on Linux, so buckets of all
workers and the runner line up), per endpoint: requests, failures, the sum and maximum of the
response times and a histogram of them (rounded to the nearest 0.1 ms under 10 ms, 1 ms under
100 ms, 10 ms under 1 s, 100 ms above: at most ~5 % relative error; the bins travel as integers
in 0.1 ms units). The per-request cost is well under a microsecond. Right after each
second ends it sends one JSON line for it (even when empty) over TCP to the address in
``CHAOSRUNNER_LOAD_STATS``. The runner merges the histograms of all processes, so its
percentiles are those of every request of that second, not an average of percentiles.
A failed request also counts its error (``"GET http://host/path: ConnectionRefusedError(...)"``, at most
``_MAX_ERRORS`` distinct ones per process); the counts since the last record travel with it,
so the runner can say why requests fail (a host that refuses connections, before any fault).

Environment read here (set by ``chaosrunner.traffic.runner``):
- ``CHAOSRUNNER_LOAD_STATS``: ``host:port`` to send stats to;
- ``CHAOSRUNNER_LOAD_RATE_PER_USER``: when set, every user class gets
  ``wait_time = constant_throughput(value)`` (the load's fixed ``rate``);
- ``CHAOSRUNNER_LOAD_SHAPE``: JSON list of ``{duration, users, spawn_rate}`` stages; defines a
  ``LoadTestShape`` that runs them in order and holds the last one until stopped.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time

import gevent
from locust import LoadTestShape, constant_throughput, events
from locust.runners import MasterRunner

_buckets: dict[int, dict[tuple[str, str], list]] = {}
_state: dict[str, object] = {"sock": None, "env": None}


_errors: dict[str, int] = {}
_MAX_ERRORS = 20
_mono = time.monotonic
_current: list = [None, None]      # (second, its bucket): saves a dict lookup per request


def _bin(ms: float) -> int:
    """A response time as an integer number of 0.1 ms, rounded to its bin (see the module docstring)."""
    if ms < 10:
        return int(ms * 10 + 0.5)
    if ms < 100:
        return int(ms + 0.5) * 10
    if ms < 1000:
        return int(ms / 10 + 0.5) * 100
    return int(ms / 100 + 0.5) * 1000


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, exception: object = None, url: object = None,
                **_: object) -> None:
    # runs for every request: kept to well under a microsecond
    sec = int(_mono())
    if sec != _current[0]:
        _current[0], _current[1] = sec, _buckets.setdefault(sec, {})
    bucket = _current[1]
    key = (request_type, name)
    row = bucket.get(key)
    if row is None:
        row = bucket[key] = [0, 0, 0.0, 0.0, {}]
    rt = response_time or 0.0
    row[0] += 1
    if exception is not None:
        row[1] += 1
        error = f"{request_type} {url or name}: {exception!r}"[:300]     # the full URL names the host
        if error in _errors or len(_errors) < _MAX_ERRORS:
            _errors[error] = _errors.get(error, 0) + 1
    row[2] += rt
    if rt > row[3]:
        row[3] = rt
    hist = row[4]
    b = _bin(rt) if rt >= 10 else int(rt * 10 + 0.5)
    hist[b] = hist.get(b, 0) + 1


def _send(line: bytes) -> None:
    sock = _state["sock"]
    if sock is None:
        return
    try:
        sock.sendall(line)  # type: ignore[attr-defined]
    except OSError:
        _state["sock"] = None   # the runner went away; keep the load running, stop reporting


def _flusher() -> None:
    environment = _state["env"]
    pid = os.getpid()
    while True:
        now = time.monotonic()
        # wake a little after the next second boundary, then close every finished second
        gevent.sleep(math.floor(now) + 1 - now + 0.005)
        current = int(time.monotonic())
        for sec in sorted(s for s in list(_buckets) if s < current):
            bucket = _buckets.pop(sec)
            _emit(pid, sec, bucket, environment)
        if current - 1 not in _buckets:
            # a second without requests is still a measured second: say so, so the runner need not wait
            _emit(pid, current - 1, {}, environment)
        if _state["sock"] is None:
            return


_last_sent: dict[str, int] = {"sec": -1}


def _emit(pid: int, sec: int, bucket: dict[tuple[str, str], list], environment: object) -> None:
    if sec <= _last_sent["sec"]:
        return
    _last_sent["sec"] = sec
    runner = getattr(environment, "runner", None)
    record = {
        "v": 1,
        "pid": pid,
        "sec": sec,
        "sent": time.monotonic(),
        "users": getattr(runner, "user_count", 0),
        # histogram bins in 0.1 ms units
        "stats": {f"{k[0]} {k[1]}": [r[0], r[1], r[2], r[3], [[b, c] for b, c in r[4].items()]]
                  for k, r in bucket.items()},
    }
    if _errors:
        record["errors"] = dict(_errors)
        _errors.clear()
    _send((json.dumps(record, separators=(",", ":")) + "\n").encode())


@events.init.add_listener
def _on_init(environment: object, **_: object) -> None:
    rate = os.environ.get("CHAOSRUNNER_LOAD_RATE_PER_USER")
    if rate:
        for user_class in getattr(environment, "user_classes", []):
            user_class.wait_time = constant_throughput(float(rate))
    if isinstance(getattr(environment, "runner", None), MasterRunner):
        return                  # the master runs no users; its workers report for themselves
    address = os.environ.get("CHAOSRUNNER_LOAD_STATS")
    if not address:
        return
    host, _sep, port = address.rpartition(":")
    try:
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        raise SystemExit(f"chaosrunner: cannot reach the runner's stats socket at {address}: {exc}") from exc
    _send_hello = json.dumps({"v": 1, "hello": os.getpid(), "sent": time.monotonic()}) + "\n"
    sock.sendall(_send_hello.encode())
    _state["sock"] = sock
    _state["env"] = environment
    gevent.spawn(_flusher)


_SHAPE = os.environ.get("CHAOSRUNNER_LOAD_SHAPE")
if _SHAPE:
    _STAGES = json.loads(_SHAPE)

    class ChaosrunnerStages(LoadTestShape):
        """The load's ``shape:`` stages, one after the other; the last one holds until stopped."""

        def tick(self):  # type: ignore[no-untyped-def]
            elapsed = self.get_run_time()
            end = 0.0
            for stage in _STAGES:
                end += float(stage["duration"])
                if elapsed < end:
                    return int(stage["users"]), float(stage["spawn_rate"])
            last = _STAGES[-1]
            return int(last["users"]), float(last["spawn_rate"])
