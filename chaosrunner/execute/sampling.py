"""Continuous sampling: every probe on its own fixed-deadline schedule, in parallel with the method.

Sample k of a probe starts at ``start + k × interval`` whatever the previous sample did: a
slow sample runs concurrently with the next (up to a bound) instead of pushing the schedule
back — the drift of sleep-after-probe loops is what makes other tools' recovery times vague.
A sample that exceeds its timeout, raises, or cannot start counts as failed.
"""
from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from chaosrunner.probes.base import Outcome, Probe
from chaosrunner.timeline import Sample, Timeline


async def take_sample(probe: Probe, timeline: Timeline, start: float | None = None) -> Sample:
    start = timeline.now() if start is None else start
    try:
        outcome = await asyncio.wait_for(probe.check(), probe.timeout)
    except TimeoutError:
        outcome = Outcome(False, None, f"timed out after {probe.timeout:g}s")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - any probe failure is a failed sample, with its reason
        outcome = Outcome(False, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    sample = Sample(probe.name, start, timeline.now(), outcome.ok, outcome.value, outcome.error, outcome.role)
    timeline.add_sample(sample)
    return sample


class Sampler:
    """Runs every probe every ``interval`` until stopped."""

    def __init__(self, probes: list[Probe], timeline: Timeline, interval: float):
        self.probes, self.timeline, self.interval = probes, timeline, interval
        self._tasks: list[asyncio.Task[Any]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._pending: dict[str, set[float]] = {p.name: set() for p in probes}

    def overdue(self, probe: str, now: float) -> list[float]:
        """Starts of this probe's samples still unanswered one interval after they began: their
        deadline (the next sample's) has passed, so they count as failing from then on, whatever
        their timeout — a hung target must not look healthy until the probe gives up."""
        return sorted(s for s in self._pending.get(probe, ()) if now - s >= self.interval)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        origin = loop.time()
        for p in self.probes:
            self._tasks.append(asyncio.create_task(self._run(p, origin), name=f"sample {p.name}"))

    async def _run(self, probe: Probe, origin: float) -> None:
        loop = asyncio.get_running_loop()
        max_inflight = max(1, math.ceil(probe.timeout / self.interval) + 1)
        running: set[asyncio.Task[Any]] = set()
        k = 0
        while True:
            deadline = origin + k * self.interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -self.interval:          # we fell behind (loop stalled): skip, never burst
                k = math.ceil((loop.time() - origin) / self.interval)
                continue
            k += 1
            if len(running) >= max_inflight:
                continue                           # the probe is hung on every slot: timeouts will say so
            task = asyncio.create_task(self._sample(probe))
            running.add(task)
            self._inflight.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(self._inflight.discard)

    async def _sample(self, probe: Probe) -> None:
        start = self.timeline.now()
        pending = self._pending[probe.name]
        pending.add(start)
        try:
            await take_sample(probe, self.timeline, start)
        finally:
            pending.discard(start)

    async def stop(self, drain: bool = True) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if drain and self._inflight:
            await asyncio.wait(set(self._inflight), timeout=max([p.timeout for p in self.probes] + [0.1]) + 0.5)
        for t in list(self._inflight):
            t.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)


def monotonic() -> float:
    return time.monotonic()
