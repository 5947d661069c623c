"""Merging of the per-second statistics that Locust processes stream to the runner.

Each Locust process that runs users sends one record per second of ``time.monotonic()``
(see ``locust_plugin.py``). ``SecondMerger`` combines the records of every process for the
same second — summing counts and histograms, so percentiles are exact up to the histogram's
rounding — and turns a complete second into ``LoadStat`` rows: one per endpoint
(``"GET /path"``) and one ``"Aggregated"``. A second is complete when every connected process
has reported it, or ``grace`` seconds after it ended (a starved worker must not hold the
stream back); a record that arrives after its second was emitted is counted in ``late`` and
dropped (the CSVs Locust writes still hold every request).

Each row also carries the instants the users' recovery is computed from (``analyse.users``): the
first and last failed request, the first success, and the first success after the last failure —
merged over processes as min, max, min, and the earliest success known to follow the merged last
failure; converted to the run clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from chaosrunner.timeline import LoadStat

AGGREGATED = "Aggregated"


@dataclass
class _Row:
    requests: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    hist: dict[float, int] = field(default_factory=dict)
    # starts of requests (monotonic): first/last failed, first ok, and the first ok after the last failed one
    # as each process saw it (merged in ``instants``, once every process has reported)
    first_failure: float | None = None
    last_failure: float | None = None
    first_ok: float | None = None
    oks_after: list[tuple[float | None, float | None, float | None]] = field(default_factory=list)

    def add(self, n: int, f: int, total: float, mx: float, hist: list[list[float]],
            *instants: float | None) -> None:
        self.requests += int(n)
        self.failures += int(f)
        self.total_ms += float(total)
        self.max_ms = max(self.max_ms, float(mx))
        for tenths, count in hist:              # bins arrive in 0.1 ms units
            ms = tenths / 10.0
            self.hist[ms] = self.hist.get(ms, 0) + int(count)
        if len(instants) >= 4:
            self._instants(*instants[:4])

    def _instants(self, ff: float | None, lf: float | None, fo: float | None, oal: float | None) -> None:
        self.first_failure = _min(self.first_failure, ff)
        self.last_failure = _max(self.last_failure, lf)
        self.first_ok = _min(self.first_ok, fo)
        self.oks_after.append((lf, fo, oal))

    def merge(self, other: _Row) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        for bucket, count in other.hist.items():
            self.hist[bucket] = self.hist.get(bucket, 0) + count
        self.first_failure = _min(self.first_failure, other.first_failure)
        self.last_failure = _max(self.last_failure, other.last_failure)
        self.first_ok = _min(self.first_ok, other.first_ok)
        self.oks_after.extend(other.oks_after)

    def first_ok_after_failure(self) -> float | None:
        """The earliest success known to have started after the last failure of this second (of every process).

        A process' first success, or its first success after its own last failure, counts when it started
        after the merged last failure; a process whose successes straddle it adds nothing (an upper bound).
        """
        last = self.last_failure
        if last is None:
            return None
        known = [t for _lf, fo, oal in self.oks_after for t in (fo, oal) if t is not None and t > last]
        return min(known, default=None)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def histogram_percentile(hist: dict[float, int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of a histogram {value: count}; None when empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, int(-(-q * total // 1)))    # ceil(q * total), at least the first value
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


def _stat(t: float, name: str, row: _Row, interval: float = 1.0,
          to_run_clock: Callable[[float], float] | None = None) -> LoadStat:
    n = row.requests

    def run_clock(v: float | None) -> float | None:
        return None if v is None or to_run_clock is None else to_run_clock(v)

    return LoadStat(
        t=t, name=name, requests=n, failures=row.failures, rps=n / interval,
        p50=histogram_percentile(row.hist, 0.50), p95=histogram_percentile(row.hist, 0.95),
        p99=histogram_percentile(row.hist, 0.99),
        avg=(row.total_ms / n) if n else None, max=row.max_ms if n else None,
        first_failure=run_clock(row.first_failure), last_failure=run_clock(row.last_failure),
        first_ok=run_clock(row.first_ok), first_ok_after_failure=run_clock(row.first_ok_after_failure()),
    )


@dataclass
class _Pending:
    reporters: set[int] = field(default_factory=set)
    rows: dict[str, _Row] = field(default_factory=dict)
    users: int = 0


class SecondMerger:
    """Collects records by second; ``poll(now)`` emits the seconds that are complete, in order."""

    def __init__(self, emit: Callable[[int, list[LoadStat], float], None], to_run_clock: Callable[[float], float],
                 grace: float = 1.2):
        self._emit = emit                  # emit(sec, stats, lag_seconds)
        self._to_run_clock = to_run_clock
        self.grace = grace
        self._pending: dict[int, _Pending] = {}
        self.last_emitted = -1
        self.late = 0
        self.users = 0

    def add(self, record: dict[str, Any]) -> None:
        sec = int(record["sec"])
        if sec <= self.last_emitted:
            self.late += 1
            return
        pending = self._pending.setdefault(sec, _Pending())
        pending.reporters.add(int(record["pid"]))
        pending.users += int(record.get("users") or 0)
        for name, values in record.get("stats", {}).items():
            pending.rows.setdefault(name, _Row()).add(*values)

    def poll(self, now: float, live: set[int], final: bool = False) -> None:
        """Emit complete seconds: all ``live`` processes reported, or ``grace`` passed, or ``final``."""
        for sec in sorted(self._pending):
            pending = self._pending[sec]
            complete = final or (live and live <= pending.reporters) or now >= sec + 1 + self.grace
            if not complete:
                break          # keep seconds in order
            del self._pending[sec]
            self.last_emitted = sec
            self.users = pending.users
            self._emit(sec, self.to_stats(sec, pending.rows), max(0.0, now - (sec + 1)))

    def to_stats(self, sec: int, rows: dict[str, _Row]) -> list[LoadStat]:
        t = self._to_run_clock(sec + 1.0)
        total = _Row()
        out = []
        for name in sorted(rows):
            total.merge(rows[name])
            out.append(_stat(t, name, rows[name], to_run_clock=self._to_run_clock))
        out.append(_stat(t, AGGREGATED, total, to_run_clock=self._to_run_clock))
        return out
