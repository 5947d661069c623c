"""Continuous sampling: every probe on its own fixed-deadline schedule, in parallel with the method,
sampled finely around the instants that are measured.

Sample k of a probe starts at ``origin + k × interval`` whatever the previous sample did: a
slow sample runs concurrently with the next (up to a bound) instead of pushing the schedule
back — the drift of sleep-after-probe loops is what makes other tools' recovery times vague.
A sample that exceeds its timeout, raises, or cannot start counts as failed.

Adaptive sampling (``fine``): a probe is also sampled on a second fixed grid, ``origin + j ×
fine``, while it is *in fine mode*:

- from its first failed sample (or a sample of it overdue, past its deadline unanswered) until
  it has held — every sample ok — for ``stable_for`` again;
- for ``watch`` seconds after each fault inject and revert (``watch()``, called by the session),
  so that the onset is timed as finely as the recovery.

While every probe holds, only the ``interval`` grid is sampled: the steady-state load on the
target is what it was without fine sampling. The ``interval`` grid goes on in fine mode (its
samples are taken as before), and a fine deadline that falls within half a fine period of an
``interval`` one is that one. The floor that protects the target and honours the probe's
timeout: at most one *extra* (fine) sample of a probe is in flight at a time, so a fine
deadline that finds the previous fine sample unanswered is skipped — a slow target is sampled
no faster than it answers, a hung one gets one extra request until the probe's timeout, never
a pile. In fine mode a probe's request rate is at most ``1/fine`` (``1/fine + 1/interval``
when ``interval`` is not a multiple of ``fine``).

The guarantees hold in both modes: fixed deadlines (no drift), no burst after a stall (missed
deadlines are skipped), a slow probe delays no other (one task per probe, samples are tasks),
and ``on_sample`` is called after every sample (the session checks its stop conditions then).
The resolution a figure achieved is read from the samples themselves (the gap between the last
sample before an instant and the first after it): ``chaosrunner.analyse.resolution``.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.probes.base import Outcome, Probe
from chaosrunner.timeline import Sample, Timeline

MIN_FINE = 0.005
"""The finest period a probe is ever sampled at (the smallest ``sampling.interval``)."""


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


@dataclass
class _ProbeState:
    """What decides a probe's mode: its latest failure, since when it has held, the watch window."""

    last_failed: float | None = None          # start of its latest failed sample (run clock); None = holding
    ok_since: float | None = None             # start of its first ok sample after ``last_failed``
    watch_until: float = -math.inf            # loop clock: fine until then (after an inject or revert)
    fine_inflight: int = 0
    waiter: asyncio.Future[None] | None = field(default=None, repr=False)

    def wake(self) -> None:
        if self.waiter is not None:
            _settle(self.waiter)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Sampler:
    """Runs every probe every ``interval`` until stopped, and every ``fine`` while it is in fine mode."""

    def __init__(self, probes: list[Probe], timeline: Timeline, interval: float, *, fine: float | None = None,
                 stable_for: float = 0.0, on_sample: Callable[[Sample], None] | None = None):
        self.probes, self.timeline, self.interval = probes, timeline, interval
        # fine at or above the interval adds nothing: off
        self.fine = None if fine is None or fine >= interval else max(fine, MIN_FINE)
        self.stable_for = stable_for
        self.on_sample = on_sample
        self._tasks: list[asyncio.Task[Any]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._pending: dict[str, set[float]] = {p.name: set() for p in probes}
        self._state: dict[str, _ProbeState] = {p.name: _ProbeState() for p in probes}
        self._loop: asyncio.AbstractEventLoop | None = None

    def overdue(self, probe: str, now: float) -> list[float]:
        """Starts of this probe's samples still unanswered one interval after they began: their
        deadline (the next sample's) has passed, so they count as failing from then on, whatever
        their timeout — a hung target must not look healthy until the probe gives up."""
        return sorted(s for s in self._pending.get(probe, ()) if now - s >= self.interval)

    # -- modes -----------------------------------------------------------------------------------
    def watch(self, seconds: float) -> None:
        """Sample every probe at the fine rate for ``seconds`` from now (a fault was injected or reverted)."""
        if self.fine is None or seconds <= 0 or self._loop is None:
            return
        until = self._loop.time() + seconds
        for st in self._state.values():
            st.watch_until = max(st.watch_until, until)
            st.wake()

    def in_fine_mode(self, probe: str) -> bool:
        """Whether ``probe`` is sampled at the fine rate now."""
        if self.fine is None:
            return False
        st = self._state[probe]
        if self._loop is not None and self._loop.time() < st.watch_until:
            return True
        if st.last_failed is not None:
            if st.ok_since is not None and self.timeline.now() - st.ok_since >= self.stable_for:
                st.last_failed = st.ok_since = None        # it has held for stable_for again
                return False
            return True
        return bool(self.overdue(probe, self.timeline.now()))

    def any_fine(self) -> bool:
        return any(self.in_fine_mode(p.name) for p in self.probes)

    def _observe(self, sample: Sample) -> None:
        st = self._state[sample.probe]
        if not sample.ok:
            if st.last_failed is None or sample.start >= st.last_failed:
                was_holding = st.last_failed is None
                st.last_failed, st.ok_since = sample.start, None
                if was_holding:
                    st.wake()                            # leave the interval-long sleep for the fine grid
        elif st.last_failed is not None and sample.start > st.last_failed and \
                (st.ok_since is None or sample.start < st.ok_since):
            st.ok_since = sample.start

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        origin = self._loop.time()
        for p in self.probes:
            self._tasks.append(asyncio.create_task(self._run(p, origin), name=f"sample {p.name}"))

    async def _sleep_until(self, st: _ProbeState, deadline: float) -> bool:
        """Sleep until ``deadline`` (loop clock); False when woken earlier (the mode changed)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        st.waiter = waiter
        timer = loop.call_at(deadline, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            st.waiter = None
        return loop.time() >= deadline

    async def _run(self, probe: Probe, origin: float) -> None:
        loop = asyncio.get_running_loop()
        interval, fine = self.interval, self.fine
        step = fine if fine is not None else interval
        st = self._state[probe.name]
        max_inflight = max(1, math.ceil(probe.timeout / interval) + 1)
        running: set[asyncio.Task[Any]] = set()
        k, last_j = 0, -1
        while True:
            normal_at = origin + k * interval
            fine_at = None
            if fine is not None and self.in_fine_mode(probe.name):
                j = max(last_j + 1, math.ceil((loop.time() - origin) / fine - 1e-9))
                fine_at = origin + j * fine
                if fine_at >= normal_at - fine / 2:
                    fine_at = None                        # the interval's own deadline comes first, or is this one
            deadline = normal_at if fine_at is None else fine_at
            if deadline > loop.time() and not await self._sleep_until(st, deadline):
                continue                                  # woken: the probe entered fine mode
            late = loop.time() - deadline
            if fine_at is not None:
                last_j = j
                if late > step or st.fine_inflight:       # stalled past it, or the last fine sample unanswered
                    continue                              # skip: the next fine deadline is computed from now
                self._launch(probe, running, fine=True)
                continue
            if late > interval:                           # we fell behind (loop stalled): skip, never burst
                k = math.ceil((loop.time() - origin) / interval)
                continue
            k += 1
            if len(running) >= max_inflight:
                continue                                  # the probe is hung on every slot: timeouts will say so
            self._launch(probe, running, fine=False)

    def _launch(self, probe: Probe, running: set[asyncio.Task[Any]], *, fine: bool) -> None:
        st = self._state[probe.name]
        if fine:
            st.fine_inflight += 1
        task = asyncio.create_task(self._sample(probe, fine))
        running.add(task)
        self._inflight.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(self._inflight.discard)

    async def _sample(self, probe: Probe, fine: bool) -> None:
        start = self.timeline.now()
        pending = self._pending[probe.name]
        pending.add(start)
        try:
            sample = await take_sample(probe, self.timeline, start)
        finally:
            pending.discard(start)
            if fine:
                self._state[probe.name].fine_inflight -= 1
        self._observe(sample)
        if self.on_sample is not None:
            self.on_sample(sample)

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
