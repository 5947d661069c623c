"""Stop conditions (``abort_when``): checked by the fault session after every sampling interval
while faults may be in force — those over the samples alone (``per_sample``) after every sample
too, fine ones included; the first that trips aborts the run and every fault is reverted.

A stop condition is one call, ``async check(run, now) -> reason | None``, over what the run has
recorded so far (``run.timeline``) and the samples still in flight (``run.overdue``), or over the
world outside: a PromQL expression that is true, a "big red button" URL that says stop, a file
that appears. Outside checks have a timeout below the sampling interval; one that cannot be
evaluated (Prometheus down) does not stop the run, and says so once on the timeline.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from chaosrunner.timeline import EventKind, Sample, Timeline


class RunView(Protocol):
    """What a stop condition may read: the record so far, and the samples overdue (in flight past
    their deadline)."""

    timeline: Timeline

    def overdue(self, probe: str, now: float) -> list[float]: ...


class StopCondition(Protocol):
    async def check(self, run: RunView, now: float) -> str | None:
        """The reason to stop, or None to go on."""


@dataclass(frozen=True)
class ProbeFailingFor:
    """A steady-state probe (or any, when ``probe`` is None) has failed for ``seconds`` on end."""

    seconds: float
    probes: tuple[str, ...]
    per_sample: ClassVar[bool] = True         # reads only the samples: checked after every one of them

    async def check(self, run: RunView, now: float) -> str | None:
        tracked = getattr(run, "failing_since", None)         # the session keeps it current: O(1)
        for name in self.probes:
            since = tracked(name, now) if tracked is not None else \
                failing_since(run.timeline, name, run.overdue(name, now))
            if since is not None and now - since >= self.seconds:
                return f"probe {name!r} failing for {now - since:.1f}s (limit {self.seconds:g}s)"
        return None


@dataclass(frozen=True)
class ErrorRateAbove:
    """The load's error rate over the last ``window`` seconds is above ``limit``."""

    limit: float
    window: float

    async def check(self, run: RunView, now: float) -> str | None:
        from chaosrunner.analyse.slo import window_stats

        stats = window_stats(run.timeline, self.window, now)
        if stats.requests and stats.error_rate is not None and stats.error_rate > self.limit:
            return (f"error rate {stats.error_rate:.1%} over the last {self.window:g}s is above "
                    f"{self.limit:.1%}")
        return None


@dataclass
class FileExists:
    """Stop when ``path`` exists (``touch /tmp/stop-chaos``)."""

    path: str

    async def check(self, run: RunView, now: float) -> str | None:
        return f"stop file {self.path} exists" if Path(self.path).exists() else None


@dataclass
class _Remote:
    """A condition asked over HTTP: its own client, a timeout, one ERROR event while it cannot answer."""

    timeout: float = 1.0
    _client: Any = field(default=None, init=False, repr=False)
    _failing: bool = field(default=False, init=False, repr=False)

    async def _get(self, url: str, run: RunView, **params: str) -> tuple[int, str] | None:
        import aiohttp

        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._client.get(url, params=params or None) as resp:
                body = await resp.text()
        except Exception as exc:  # noqa: BLE001 - unreachable: the run goes on, the timeline says why
            if not self._failing:
                self._failing = True
                run.timeline.event(EventKind.ERROR, where="abort_when",
                                   error=f"stop condition {url} cannot be evaluated: {type(exc).__name__}: {exc}")
            return None
        self._failing = False
        return resp.status, body

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


@dataclass
class HttpSaysStop(_Remote):
    """A "big red button": stop when ``url`` answers with ``status`` (and ``contains``, if given)."""

    url: str = ""
    status: int = 200
    contains: str | None = None

    async def check(self, run: RunView, now: float) -> str | None:
        got = await self._get(self.url, run)
        if got is None or got[0] != self.status or (self.contains is not None and self.contains not in got[1]):
            return None
        return f"{self.url} answered {got[0]}" + (f" with {self.contains!r}" if self.contains else "")


@dataclass
class PromQLTrue(_Remote):
    """Stop when the PromQL expression is true: a non-empty result with a non-zero value."""

    prometheus: str = ""
    expr: str = ""

    async def check(self, run: RunView, now: float) -> str | None:
        got = await self._get(self.prometheus.rstrip("/") + "/api/v1/query", run, query=self.expr)
        if got is None or got[0] != 200:
            return None
        try:
            data = json.loads(got[1])["data"]
            result = data["result"]
            values = [float(result[1])] if data["resultType"] in ("scalar", "string") else \
                [float(r["value"][1]) for r in result]
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        hits = [v for v in values if v != 0 and v == v]
        return f"PromQL {self.expr!r} is true ({hits[0]:g})" if hits else None


def failing_since(timeline: Timeline, probe: str, overdue: Sequence[float] = ()) -> float | None:
    """Start of the current run of failed samples of a probe (None if its last sample passed).

    Samples overdue (still in flight past their deadline) count as failed: a probe whose every
    sample hangs on a blackholed target is failing from its first hung sample on."""
    since, last_ok = None, None
    for s in reversed(timeline.samples):
        if s.probe != probe:
            continue
        if s.ok:
            last_ok = s.start
            break
        since = s.start
    hung = [t for t in overdue if last_ok is None or t > last_ok]
    if hung:
        since = min(hung) if since is None else min(since, min(hung))
    return since


class FailingTracker:
    """``failing_since`` of every probe, kept current as samples are appended (a timeline listener),
    so that checking ``probe_failing_for`` after every sample costs the same however long the probe
    has been failing. Same answers as ``failing_since`` over the whole timeline."""

    def __init__(self, timeline: Timeline):
        self._since: dict[str, float | None] = {}
        self._last_ok: dict[str, float | None] = {}
        for s in timeline.samples:
            self._see(s)
        timeline.subscribe(self._see)

    def _see(self, record: Any) -> None:
        if not isinstance(record, Sample):
            return
        if record.ok:
            self._last_ok[record.probe], self._since[record.probe] = record.start, None
        elif self._since.get(record.probe) is None:
            self._since[record.probe] = record.start

    def failing_since(self, probe: str, overdue: Sequence[float] = ()) -> float | None:
        since, last_ok = self._since.get(probe), self._last_ok.get(probe)
        hung = [t for t in overdue if last_ok is None or t > last_ok]
        if hung:
            since = min(hung) if since is None else min(since, min(hung))
        return since


def stop_conditions(abort_when: Iterable[Any], probe_names: list[str], prometheus: str | None = None,
                    interval: float = 0.25, inventory: Any = None) -> list[StopCondition]:
    """The stop conditions of an ``abort_when:`` list (models from ``chaosrunner.model.experiment``);
    ``prometheus``: the inventory's server, for ``promql:`` without its own; ``inventory``: the run's,
    whose ``aws:`` handles a ``cloudwatch_alarm:`` reads through. Outside checks time out within the
    sampling interval (at least 200 ms, at most 1 s)."""
    out: list[StopCondition] = []
    timeout = min(1.0, max(0.2, interval))
    for cond in abort_when:
        if cond.probe_failing_for is not None:
            names = tuple(n for n in probe_names if cond.probe in (None, n))
            out.append(ProbeFailingFor(cond.probe_failing_for, names))
        elif cond.error_rate_above is not None:
            out.append(ErrorRateAbove(cond.error_rate_above, cond.window))
        elif cond.file is not None:
            out.append(FileExists(cond.file))
        elif cond.http is not None:
            out.append(HttpSaysStop(timeout, url=cond.http.url, status=cond.http.status, contains=cond.http.contains))
        elif cond.promql is not None:
            out.append(PromQLTrue(timeout, prometheus=str(cond.prometheus or prometheus), expr=cond.promql))
        elif getattr(cond, "cloudwatch_alarm", None) is not None:
            from chaosrunner.drivers.aws.watch import AlarmStop, aws_handle

            alarm = cond.cloudwatch_alarm
            out.append(AlarmStop(aws_handle(inventory, alarm.target), list(alarm.alarms), alarm.state,
                                 alarm.timeout))
    return out
