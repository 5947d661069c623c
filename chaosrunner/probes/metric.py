"""The ``metric`` probe: a golden signal from the run's load statistics, or a PromQL query.

``source: load`` reads the timeline's per-second ``LoadStat`` rows over a sliding ``window``
(default 10 s) and computes ``p50_latency``, ``p95_latency``, ``p99_latency`` (the window
percentile of ``chaosrunner.analyse.slo``), ``error_rate`` or ``rps``. No load seconds in the window
is a failed sample with that explanation, never a silent pass.

``source: prometheus`` runs ``query`` against ``/api/v1/query`` of the probe's ``prometheus``
URL (else the inventory's, else ``context.extras["prometheus"]``). A scalar must satisfy the
threshold; for a vector, every series must (an empty vector fails: nothing was measured).

Thresholds: latencies are durations (``500ms``; Prometheus values are compared in seconds),
``error_rate`` a fraction (``1%``), anything else a number. The comparison is ``<`` for
latencies and error rates and ``>`` for ``rps`` unless ``operator`` says otherwise.

``evaluate_load(spec, timeline)`` gives the same answer synchronously (for stop conditions).
"""
from __future__ import annotations

import operator as op
from typing import Any
from collections.abc import Callable

import aiohttp

from chaosrunner.errors import ProbeError
from chaosrunner.analyse.slo import WindowStats, window_stats
from chaosrunner.model.probes import MetricProbeSpec
from chaosrunner.probes.base import Outcome, ProbeContext, register_probe
from chaosrunner.timeline import Timeline
from chaosrunner.units import format_duration

LOAD_METRICS = ("p50_latency", "p95_latency", "p99_latency", "error_rate", "rps")
_OPS: dict[str, Callable[[float, float], bool]] = {"<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}

__all__ = ["LOAD_METRICS", "MetricProbe", "MetricProbeSpec", "evaluate_load", "load_metric_value"]


def _is_latency(name: str) -> bool:
    return name.endswith("_latency")


def _fmt(name: str, value: float) -> str:
    if _is_latency(name):
        return format_duration(value)
    if name == "error_rate":
        return f"{value * 100:.2f}%"
    return f"{value:g}"


def load_metric_value(name: str, ws: WindowStats) -> float | None:
    """The metric from a window: latencies in seconds, error_rate a fraction, rps per second."""
    if name in ("p50_latency", "p95_latency", "p99_latency"):
        ms = getattr(ws, name.split("_")[0])
        return None if ms is None else ms / 1000.0
    if name == "error_rate":
        return ws.error_rate
    if name == "rps":
        return ws.rps
    raise ProbeError(f"unknown load metric {name!r}; known: {', '.join(LOAD_METRICS)}")


def evaluate_load(spec: MetricProbeSpec, timeline: Timeline, now: float | None = None) -> Outcome:
    """Judge a load-source metric probe against the timeline now (synchronous, no I/O)."""
    name = (spec.name or "").lower()
    ws = window_stats(timeline, spec.window, now)
    window = format_duration(spec.window)
    if ws.seconds == 0:
        return Outcome(False, None, f"no load statistics in the last {window} (is load running?)")
    value = load_metric_value(name, ws)
    if value is None:
        return Outcome(False, None, f"no request completed in the last {window}, so {name} is unknown")
    cmp, limit = spec.comparison(), spec.threshold_value()
    ok = _OPS[cmp](value, limit)
    error = None if ok else f"{name} {_fmt(name, value)} is not {cmp} {_fmt(name, limit)} (last {window})"
    return Outcome(ok, value, error)


def _prometheus_url(spec: MetricProbeSpec, ctx: ProbeContext) -> str:
    url = spec.prometheus or getattr(ctx.inventory, "prometheus", None) or ctx.extras.get("prometheus")
    if not url:
        raise ProbeError("a prometheus metric probe needs a server: set prometheus: on the probe "
                         "or in the targets inventory")
    return str(url).rstrip("/")


class MetricProbe:
    def __init__(self, spec: MetricProbeSpec, name: str, ctx: ProbeContext):
        self.name, self.spec, self.ctx, self.timeout = name, spec, ctx, spec.timeout
        source = spec.source
        if source is None:            # the planner normally decides; a bare probe picks what it can
            source = "prometheus" if spec.query else "load"
        self.source = source
        self._session: aiohttp.ClientSession | None = None
        if source == "load":
            metric = (spec.name or "").lower()
            if metric not in LOAD_METRICS:
                raise ProbeError(f"metric probe: {spec.name!r} is not a load metric; "
                                 f"use one of {', '.join(LOAD_METRICS)} or source: prometheus with query:")
            if ctx.timeline is None:
                raise ProbeError("metric probe with source: load needs the run's timeline")
            self.url = ""
        else:
            if not spec.query:
                raise ProbeError("a prometheus metric probe needs query: <PromQL>")
            self.url = _prometheus_url(spec, ctx) + "/api/v1/query"

    async def check(self) -> Outcome:
        if self.source == "load":
            assert self.ctx.timeline is not None
            return evaluate_load(self.spec, self.ctx.timeline)
        return await self._check_prometheus()

    async def _check_prometheus(self) -> Outcome:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        async with self._session.get(self.url, params={"query": self.spec.query or ""}) as resp:
            body = await resp.json(content_type=None)
        if body.get("status") != "success":
            return Outcome(False, None, f"prometheus: {body.get('errorType', 'error')}: {body.get('error', body)}")
        data = body.get("data") or {}
        kind, result = data.get("resultType"), data.get("result") or []
        values: list[tuple[str, float]]
        if kind == "scalar":
            values = [("scalar", float(result[1]))]
        elif kind == "vector":
            values = [(_series(r.get("metric") or {}), float(r["value"][1])) for r in result]
        else:
            return Outcome(False, None, f"prometheus returned a {kind}; the query must give a scalar or an "
                                        "instant vector")
        if not values:
            return Outcome(False, None, f"query {self.spec.query!r} returned no series")
        cmp, limit = self.spec.comparison(), self.spec.threshold_value()
        bad = [(s, v) for s, v in values if not _OPS[cmp](v, limit)]
        value: Any = values[0][1] if len(values) == 1 else {s: v for s, v in values}
        if not bad:
            return Outcome(True, value)
        shown = ", ".join(f"{s}={v:g}" for s, v in bad[:5]) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")
        return Outcome(False, value, f"{len(bad)} of {len(values)} series not {cmp} {limit:g}: {shown}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _series(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


register_probe("metric")(MetricProbe)
