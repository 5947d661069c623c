"""Merging of the per-second statistics that Locust processes stream to the runner.

Each Locust process that runs users sends one record per second of ``time.monotonic()``
(see ``locust_plugin.py``). ``SecondMerger`` combines the records of every process for the
same second — summing counts and histograms, so percentiles are exact up to the histogram's
rounding — and turns a complete second into ``LoadStat`` rows: one per endpoint
(``"GET /path"``) and one ``"Aggregated"``. A second is complete when every connected process
has reported it, or ``grace`` seconds after it ended (a starved worker must not hold the
stream back); a record that arrives after its second was emitted is counted in ``late`` and
dropped (the CSVs Locust writes still hold every request).
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

    def add(self, n: int, f: int, total: float, mx: float, hist: list[list[float]]) -> None:
        self.requests += int(n)
        self.failures += int(f)
        self.total_ms += float(total)
        self.max_ms = max(self.max_ms, float(mx))
        for tenths, count in hist:              # bins arrive in 0.1 ms units
            ms = tenths / 10.0
            self.hist[ms] = self.hist.get(ms, 0) + int(count)

    def merge(self, other: _Row) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        for bucket, count in other.hist.items():
            self.hist[bucket] = self.hist.get(bucket, 0) + count


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


def _stat(t: float, name: str, row: _Row, interval: float = 1.0) -> LoadStat:
    n = row.requests
    return LoadStat(
        t=t, name=name, requests=n, failures=row.failures, rps=n / interval,
        p50=histogram_percentile(row.hist, 0.50), p95=histogram_percentile(row.hist, 0.95),
        p99=histogram_percentile(row.hist, 0.99),
        avg=(row.total_ms / n) if n else None, max=row.max_ms if n else None,
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
        for name, (n, f, total, mx, hist) in record.get("stats", {}).items():
            pending.rows.setdefault(name, _Row()).add(n, f, total, mx, hist)

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
            out.append(_stat(t, name, rows[name]))
        out.append(_stat(t, AGGREGATED, total))
        return out
