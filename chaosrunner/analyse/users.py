"""Recovery as the load's users saw it: when every request started succeeding again.

Pure functions (no I/O, no clock) over the load statistics (``LoadStat`` rows, one per endpoint
and one ``"Aggregated"`` per second). Each row carries the starts of the first and last failed
request that ended in its second, of the first successful one, and of the first successful one
after the last failed one (the Locust plugin records those transitions, not every request).

- A fault window's scope runs from its ``t0`` to the next window's ``t0`` (or the end of the load).
- Users' recovery instant = start of the last failed request in the scope: every request that
  started after it, in the scope, succeeded. Users' recovery = that instant − ``t0``. Reported
  per endpoint and overall (``"Aggregated"``: the last failed request of any endpoint).
- First success after = start of the earliest successful request known to have started after that
  last failure (evidence that requests got through; with several Locust workers an upper bound).
- No failed request in the scope → the users never noticed: recovery 0. Failed requests up to the
  end of the scope with no success after the last one → not recovered (unbounded).
- Resolution = the mean spacing of requests around the recovery (1 / the request rate of the
  endpoint in the seconds around it): the switch from failing to succeeding happened between the
  last failed request and the next request, which came about that much later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.recovery import json_seconds
from chaosrunner.timeline import FaultWindow, LoadStat

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class EndpointRecovery:
    """One endpoint (or ``"Aggregated"``) in one fault window; times in seconds, instants on the run clock."""

    name: str
    requests: int                       # requests that ended in the scope
    failures: int
    affected: bool                      # a request failed in the scope
    recovered: bool
    recovery_time: float                # 0: never affected; math.inf: failing until the end of the scope
    recovered_at: float | None          # start of the last failed request
    first_failure_at: float | None
    first_ok_after: float | None        # start of the first success after the last failure
    resolution: float | None            # 1 / request rate around the recovery

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "requests": self.requests, "failures": self.failures, "affected": self.affected,
                "recovered": self.recovered, "recovery_time": json_seconds(self.recovery_time),
                "recovered_at": self.recovered_at, "first_failure_at": self.first_failure_at,
                "first_ok_after": self.first_ok_after, "resolution": self.resolution}


@dataclass(frozen=True)
class UsersRecovery:
    """The users' view of one fault window: overall and per endpoint."""

    window: int
    t0: float
    overall: EndpointRecovery
    endpoints: tuple[EndpointRecovery, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "t0": self.t0, "overall": self.overall.to_dict(),
                "endpoints": [e.to_dict() for e in self.endpoints]}


def _rate_around(rows: Sequence[LoadStat], t: float) -> float | None:
    """Requests per second of ``rows`` in the seconds ending within one second of ``t`` (None: no request)."""
    near = [r for r in rows if t - 1.0 <= r.t <= t + 2.0]
    seconds = len(near)
    total = sum(r.requests for r in near)
    return total / seconds if seconds and total else None


def endpoint_recovery(name: str, rows: Sequence[LoadStat], t0: float, scope_end: float) -> EndpointRecovery:
    """One endpoint's rows (any order) judged over the scope [t0, scope_end)."""
    rows = sorted(rows, key=lambda r: r.t)
    # a row covers the second that ends at r.t: it belongs to the scope when that second overlaps it
    scoped = [r for r in rows if r.t > t0 and r.t - 1.0 < scope_end]
    requests = sum(r.requests for r in scoped)
    failures = [r for r in scoped if r.last_failure is not None and t0 <= r.last_failure < scope_end]
    if not failures:
        return EndpointRecovery(name, requests, 0, False, True, 0.0, None, None, None,
                                _resolution(_rate_around(rows, t0)))
    last = max(float(r.last_failure) for r in failures if r.last_failure is not None)
    first = min(r.first_failure if r.first_failure is not None and r.first_failure >= t0
                else float(r.last_failure or last) for r in failures)
    after = [t for r in scoped for t in (r.first_ok_after_failure, r.first_ok)
             if t is not None and last < t < scope_end]
    first_ok = min(after, default=None)
    recovered = first_ok is not None
    return EndpointRecovery(
        name, requests, sum(r.failures for r in failures), True, recovered,
        (last - t0) if recovered else math.inf, last if recovered else None, first, first_ok,
        _resolution(_rate_around(rows, last)))


def _resolution(rate: float | None) -> float | None:
    return None if not rate else 1.0 / rate


def users_recovery(stats: Iterable[LoadStat], windows: Sequence[FaultWindow],
                   end: float | None = None) -> list[UsersRecovery]:
    """One ``UsersRecovery`` per fault window (``[]`` without load statistics)."""
    by_name: dict[str, list[LoadStat]] = {}
    for s in stats:
        by_name.setdefault(s.name, []).append(s)
    if not by_name:
        return []
    horizon = end if end is not None else max(s.t for rows in by_name.values() for s in rows)
    out = []
    for i, w in enumerate(windows):
        scope_end = windows[i + 1].start if i + 1 < len(windows) else horizon
        scope_end = max(scope_end, w.start)
        overall = endpoint_recovery(AGGREGATED, by_name.get(AGGREGATED, []), w.start, scope_end)
        endpoints = tuple(endpoint_recovery(n, rows, w.start, scope_end)
                          for n, rows in sorted(by_name.items()) if n != AGGREGATED)
        out.append(UsersRecovery(w.index, w.start, overall, endpoints))
    return out
