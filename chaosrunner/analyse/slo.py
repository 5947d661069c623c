"""Golden-signal SLO windows from a timeline's load statistics (pure functions: no I/O, no clock).

Windows (``fault_windows`` of the timeline decides where faults were active):

- ``baseline``: load seconds before the first fault was confirmed;
- ``fault``: load seconds inside any fault window (an unreverted window runs to the end);
- ``recovery``: load seconds after the last fault was reverted.

A ``LoadStat`` covers the second ``(t - 1, t]``; it belongs to a window only when that whole
second lies inside it. A second straddling an injection or a revert is a transition and counts
in no window: requests sent just before a revert finish just after it, and would otherwise
charge the fault's latency to the recovery.

Combining per-second percentiles into a window's percentile
------------------------------------------------------------
Each ``LoadStat`` keeps p50/p95/p99/max of its second, not the full histogram. A window's
percentile is computed from a mixture in which every second contributes its requests as:
50 % at its p50, 45 % at its p95, 4 % at its p99 and 1 % at its max. This is exact when the
seconds are alike, and otherwise never below the true value (each second's stand-in
distribution lies at or above its real one), so a window can look slightly worse than it was,
never better. Error rate = failures / requests; RPS = requests / seconds of load in the window.

Thresholds (``objectives.slo``): ``p50``, ``p95``, ``p99`` (durations), ``error_rate`` (fraction)
and ``rps_min``. ``SEED_THRESHOLDS`` are the seed's §6.1 golden-signal thresholds, used by the
ready experiments as their example defaults.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Mapping

from chaosrunner import units
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import FaultWindow, LoadStat, Timeline, fault_windows

AGGREGATED = "Aggregated"
WINDOWS = ("baseline", "fault", "recovery")
SEED_THRESHOLDS: dict[str, Any] = {"p50": "50ms", "p95": "200ms", "p99": "500ms", "error_rate": "1%"}
"""Seed §6.1: p50 < 50 ms, p95 < 200 ms, p99 < 500 ms, error rate < 1 %."""

_MIXTURE = ((0.50, "p50"), (0.45, "p95"), (0.04, "p99"), (0.01, "max"))

WINDOW_EDGE = 1.0
"""An SLO verdict's precision (seconds): load statistics come per second, so a window's edges are
known to ±1 s (a second straddling an injection or a revert counts in no window)."""
PRECISION_NOTE = "per-second statistics: window edges ±1s"
PERCENTILE_NOTE = ("the window's percentile is estimated from per-second percentiles (never below the true "
                   "value)")


@dataclass(frozen=True)
class WindowStats:
    """The golden signals of one span of load; latencies in milliseconds."""

    name: str
    start: float | None
    end: float | None
    seconds: int
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        return self.requests / self.seconds if self.seconds else None

    def to_dict(self) -> dict[str, Any]:
        """The shape ``run.json`` keeps under ``measurements.slo.<window>``."""
        return {"requests": self.requests, "failures": self.failures, "p50": self.p50, "p95": self.p95,
                "p99": self.p99, "error_rate": self.error_rate, "rps": self.rps, "seconds": self.seconds,
                "span": [self.start, self.end]}


@dataclass(frozen=True)
class SloThresholds:
    p50: float | None = None          # seconds
    p95: float | None = None
    p99: float | None = None
    error_rate: float | None = None   # fraction
    rps_min: float | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> SloThresholds:
        """From ``objectives.slo`` (``{p99: 500ms, error_rate: 1%, rps_min: 50}``); ValueError if unknown."""
        data = dict(data or {})
        unknown = set(data) - {"p50", "p95", "p99", "error_rate", "rps_min"}
        if unknown:
            raise ValueError(f"unknown SLO threshold(s) {', '.join(sorted(unknown))}; "
                             "known: p50, p95, p99, error_rate, rps_min")

        def get(key: str, parse: Any) -> float | None:
            return None if data.get(key) is None else float(parse(data[key]))

        return cls(p50=get("p50", units.parse_duration), p95=get("p95", units.parse_duration),
                   p99=get("p99", units.parse_duration), error_rate=get("error_rate", units.parse_fraction),
                   rps_min=get("rps_min", float))


def combine_percentile(stats: Iterable[LoadStat], q: float) -> float | None:
    """The q-quantile (0..1, ms) of a span, from its seconds' percentiles (see the module docstring)."""
    points: list[tuple[float, float]] = []
    for s in stats:
        if not s.requests:
            continue
        for share, field_name in _MIXTURE:
            value = getattr(s, field_name)
            if value is None:
                value = s.p99 if s.p99 is not None else s.p95 if s.p95 is not None else s.p50
            if value is not None:
                points.append((float(value), share * s.requests))
    if not points:
        return None
    points.sort()
    total = sum(w for _, w in points)
    target, seen = q * total, 0.0
    for value, weight in points:
        seen += weight
        if seen >= target - 1e-9 * total:
            return value
    return points[-1][0]


def summarize(name: str, stats: list[LoadStat], start: float | None = None, end: float | None = None) -> WindowStats:
    """Golden signals of ``stats`` (Aggregated rows only are used)."""
    rows = [s for s in stats if s.name == AGGREGATED]
    return WindowStats(
        name=name, start=start, end=end, seconds=len(rows), requests=sum(s.requests for s in rows),
        failures=sum(s.failures for s in rows), p50=combine_percentile(rows, 0.50),
        p95=combine_percentile(rows, 0.95),
        # seconds without a p99 (an attached Locust master reports none) leave the window's p99
        # unknown: estimating it from their p95 would under-state it
        p99=None if any(s.requests and s.p99 is None for s in rows) else combine_percentile(rows, 0.99))


def _inside(windows: list[FaultWindow], lo: float, hi: float) -> bool:
    return any(w.start <= lo and (w.end is None or hi <= w.end) for w in windows)


def slo_windows(timeline: Timeline) -> dict[str, WindowStats]:
    """Baseline, fault and recovery windows of a timeline (only those that have load seconds)."""
    rows = [s for s in timeline.load_stats if s.name == AGGREGATED]
    windows = fault_windows(timeline.events)
    if not windows:
        return {"baseline": summarize("baseline", rows, rows[0].t - 1 if rows else None,
                                      rows[-1].t if rows else None)} if rows else {}
    first = windows[0].start
    ends = [w.end for w in windows]
    last_revert = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    parts: dict[str, list[LoadStat]] = {k: [] for k in WINDOWS}
    for s in rows:
        lo, hi = s.t - 1.0, s.t
        if hi <= first:
            parts["baseline"].append(s)
        elif _inside(windows, lo, hi):
            parts["fault"].append(s)
        elif last_revert is not None and lo >= last_revert:
            parts["recovery"].append(s)
        # a second straddling a boundary, or between two fault windows: in no window
    bounds = {"baseline": (None, first), "fault": (first, last_revert), "recovery": (last_revert, None)}
    return {k: summarize(k, v, *bounds[k]) for k, v in parts.items() if v}


def _fmt_ms(ms: float | None) -> str:
    return "—" if ms is None else units.format_duration(ms / 1000.0)


def judge(windows: Mapping[str, WindowStats], thresholds: SloThresholds | Mapping[str, Any] | None,
          names: Iterable[str] = WINDOWS) -> list[Verdict]:
    """One verdict (kind="slo") per threshold and window; UNKNOWN where a window had no requests."""
    th = thresholds if isinstance(thresholds, SloThresholds) else SloThresholds.parse(thresholds)
    verdicts: list[Verdict] = []
    for window in names:
        ws = windows.get(window)
        for metric in ("p50", "p95", "p99", "error_rate", "rps_min"):
            limit = getattr(th, metric)
            if limit is None:
                continue
            label = "rps" if metric == "rps_min" else metric
            name = f"slo {label} ({window})"
            data = {"window": window, "metric": label}
            if metric in ("p50", "p95", "p99"):
                expected = f"< {units.format_duration(limit)}"
                ms = getattr(ws, metric) if ws else None
                value, measured = (None if ms is None else ms / 1000.0), _fmt_ms(ms)
                ok = value is not None and value < limit
            elif metric == "error_rate":
                expected = f"< {limit * 100:g}%"
                value = ws.error_rate if ws else None
                measured = "—" if value is None else f"{value * 100:.2f}%"
                ok = value is not None and value < limit
            else:
                expected = f"≥ {limit:g}/s"
                value = ws.rps if ws else None
                measured = "—" if value is None else f"{value:.1f}/s"
                ok = value is not None and value >= limit
            if value is None and ws and ws.requests:
                status, detail = Status.UNKNOWN, f"no {label} in the load statistics (an attached Locust master " \
                                                 "does not report p99)"
            elif value is None:
                status, detail = Status.UNKNOWN, f"no completed requests in the {window} window"
            else:
                status = Status.PASSED if ok else Status.FAILED
                detail = f"{ws.requests} requests over {ws.seconds}s" if ws else ""
                detail += f"; {PRECISION_NOTE}"
                if metric in ("p50", "p95", "p99"):
                    detail += f"; {PERCENTILE_NOTE}"
            verdicts.append(Verdict(name=name, status=status, expected=expected, measured=measured, detail=detail,
                                    value=value, precision=None if value is None else WINDOW_EDGE, kind="slo",
                                    data=data))
    return verdicts


def slo_verdicts(timeline: Timeline, thresholds: SloThresholds | Mapping[str, Any] | None) -> list[Verdict]:
    """Windows of ``timeline`` judged against ``thresholds`` (the engine's one call)."""
    return judge(slo_windows(timeline), thresholds)


def window_stats(timeline: Timeline, seconds: float, now: float | None = None) -> WindowStats:
    """Golden signals of the last ``seconds`` of load (a sliding window, for metric probes)."""
    now = timeline.now() if now is None else now
    since = now - seconds
    rows: list[LoadStat] = []
    stats = timeline.load_stats
    for i in range(len(stats) - 1, -1, -1):        # newest first: stop at the window's edge
        s = stats[i]
        if s.t <= since:
            break
        if s.name == AGGREGATED and s.t <= now + 1e-9:
            rows.append(s)
    rows.reverse()
    return summarize("sliding", rows, since, now)
