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

Recovery as the users saw it: each record also carries, per endpoint, four instants (starts of
requests, ``time.monotonic()``): the first and the last failed request that ended in that second,
the first successful one, and the first successful one that started after the last failed one.
Transitions, not requests: memory stays four numbers per endpoint and second whatever the rate,
and the runner finds the last failed request of a window (the users' recovery) and the first
success after it.

Environment read here (set by ``chaosrunner.traffic.runner``):
- ``CHAOSRUNNER_LOAD_STATS``: ``host:port`` to send stats to;
- ``CHAOSRUNNER_LOAD_RATE_PER_USER``: when set, every user class gets
  ``wait_time = constant_throughput(value)`` (the load's fixed ``rate``);
- ``CHAOSRUNNER_LOAD_SHAPE``: JSON list of ``{duration, users, spawn_rate}`` stages; defines a
  ``LoadTestShape`` that runs them in order and holds the last one until stopped;
- ``CHAOSRUNNER_RUNNER``: ``pid:create_time`` of the chaosrunner process. Load is a fault on the
  target like any other: when the runner is gone (``kill -9``) for ``_ORPHAN_AFTER`` seconds, every
  Locust process (standalone, master, each worker) stops its users and quits by itself;
- ``CHAOSRUNNER_LOAD_REDACT``: JSON list of the run's secret references (``${env:TOKEN}``,
  ``${file:/abs/path}``), resolved here with this process' environment and files: every cell of
  Locust's CSV files, and every name and error sent to the runner, is redacted with them (before
  any cut);
- ``CHAOSRUNNER_LOAD_HOST``: the host, when it holds a secret, as written with references (it is not
  on the command line); resolved here into ``environment.host``. A user class may list attributes
  that hold references in ``chaosrunner_refs`` (the generated http profile does): resolved here too.

The references' grammar is ``chaosrunner.read.resolve``'s written form (``Secrets.referenced``): ``$$``
is a literal ``$``. It is repeated below because this file must not import chaosrunner.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import socket
import time
from typing import Any

import gevent
import psutil
from locust import LoadTestShape, constant_throughput, events
from locust.runners import MasterRunner

_REF = re.compile(r"\$\$|\$\{(env|file):([^}]*)\}")


def _resolve(text: str) -> str:
    """``text`` with its secret references resolved (the inverse of chaosrunner's ``Secrets.referenced``)."""
    def sub(m: re.Match) -> str:
        if m.group(1) is None:
            return "$"
        if m.group(1) == "env":
            if m.group(2) not in os.environ:
                raise SystemExit(f"chaosrunner: environment variable {m.group(2)} is not set (needed by {m.group(0)})")
            return os.environ[m.group(2)]
        try:
            with open(m.group(2), encoding="utf-8") as f:
                return f.read().strip()
        except OSError as exc:
            raise SystemExit(f"chaosrunner: cannot read {m.group(2)} (needed by {m.group(0)}): {exc}") from None

    return _REF.sub(sub, text)


def _resolve_obj(value: object) -> object:
    if isinstance(value, str):
        return _resolve(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve_obj(v) for v in value)
    return value


_SECRETS = sorted({_resolve(ref) for ref in json.loads(os.environ.get("CHAOSRUNNER_LOAD_REDACT") or "[]")} - {""},
                  key=len, reverse=True)


def _redact(text: str) -> str:
    """Every character of every secret occurrence (overlapping ones too) replaced, each run by ``***``."""
    if not _SECRETS or not text:
        return text
    spans = []
    for v in _SECRETS:
        i = text.find(v)
        while i >= 0:
            spans.append((i, i + len(v)))
            i = text.find(v, i + 1)
    if not spans:
        return text
    spans.sort()
    out, at = [], 0
    start, end = spans[0]
    for a, b in spans[1:]:
        if a <= end:
            end = max(end, b)
        else:
            out += [text[at:start], "***"]
            at, start, end = end, a, b
    out += [text[at:start], "***", text[end:]]
    return "".join(out)


class _RedactingWriter:
    """A csv writer whose every text cell is redacted (Locust's CSV files hold names, errors, tracebacks)."""

    def __init__(self, writer: Any):
        self._writer = writer

    def writerow(self, row: list) -> object:
        return self._writer.writerow([_redact(c) if isinstance(c, str) else c for c in row])

    def writerows(self, rows: list) -> None:
        for row in rows:
            self.writerow(row)

    def __getattr__(self, name: str) -> object:
        return getattr(self._writer, name)


class _RedactingCsv:
    """Stands in for the ``csv`` module inside ``locust.stats``: its writers redact."""

    def __getattr__(self, name: str) -> object:
        return getattr(csv, name)

    @staticmethod
    def writer(*args: Any, **kwargs: Any) -> _RedactingWriter:
        return _RedactingWriter(csv.writer(*args, **kwargs))


if _SECRETS:
    import locust.stats

    locust.stats.csv = _RedactingCsv()  # type: ignore[assignment]


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
    now = _mono()
    sec = int(now)
    if sec != _current[0]:
        _current[0], _current[1] = sec, _buckets.setdefault(sec, {})
    bucket = _current[1]
    key = (request_type, name)
    row = bucket.get(key)
    if row is None:
        # requests, failures, total ms, max ms, histogram, first failed, last failed, first ok, first ok after
        row = bucket[key] = [0, 0, 0.0, 0.0, {}, None, None, None, None]
    rt = response_time or 0.0
    row[0] += 1
    started = now - rt / 1000.0
    if exception is not None:
        row[1] += 1
        if row[5] is None or started < row[5]:
            row[5] = started
        if row[6] is None or started > row[6]:
            row[6] = started
            if row[8] is not None and row[8] <= started:
                row[8] = None
        # the full URL names the host; redacted before it is cut, so no cut splits a secret
        error = _redact(f"{request_type} {url or name}: {exception!r}")[:300]
        if error in _errors or len(_errors) < _MAX_ERRORS:
            _errors[error] = _errors.get(error, 0) + 1
    else:
        if row[7] is None or started < row[7]:
            row[7] = started
        if row[6] is not None and started > row[6] and (row[8] is None or started < row[8]):
            row[8] = started
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
        "stats": {_redact(f"{k[0]} {k[1]}"): [r[0], r[1], r[2], r[3], [[b, c] for b, c in r[4].items()],
                                               r[5], r[6], r[7], r[8]]
                  for k, r in bucket.items()},
    }
    if _errors:
        record["errors"] = dict(_errors)
        _errors.clear()
    _send((json.dumps(record, separators=(",", ":")) + "\n").encode())


_ORPHAN_AFTER = 2.0


def _runner_alive(pid: int, created: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - created) < 0.01
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _watch_runner(environment: object, pid: int, created: float) -> None:
    """Quit when the runner has been gone for ``_ORPHAN_AFTER`` s: no load outlives its run."""
    gone_since = None
    while True:
        gevent.sleep(0.25)
        if _runner_alive(pid, created):
            gone_since = None
            continue
        gone_since = gone_since or time.monotonic()
        if time.monotonic() - gone_since >= _ORPHAN_AFTER:
            runner = getattr(environment, "runner", None)
            try:
                if runner is not None:
                    runner.quit()
            finally:
                os._exit(0)


@events.init.add_listener
def _on_init(environment: object, **_: object) -> None:
    host = os.environ.get("CHAOSRUNNER_LOAD_HOST")
    if host:
        environment.host = _resolve(host)  # type: ignore[attr-defined]
    for user_class in getattr(environment, "user_classes", []):
        for attr in getattr(user_class, "chaosrunner_refs", ()):
            setattr(user_class, attr, _resolve_obj(getattr(user_class, attr)))
    owner = os.environ.get("CHAOSRUNNER_RUNNER")
    if owner:
        pid, _sep, created = owner.partition(":")
        gevent.spawn(_watch_runner, environment, int(pid), float(created))
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
