"""Adaptive sampling (``execute.sampling``): the interval while every probe holds, the fine rate while
a probe fails (until it has held for ``stable_for``) and for ``watch`` after each inject and revert —
and the sampler's guarantees in both modes: fixed deadlines, no burst after a stall, a slow probe
delays no other, stop conditions checked after every sample.

In-memory probes whose answers depend on the run clock (``Scripted``); each test a second or two.
Timing bounds are loose (the machine is shared): they separate 20 ms from 200 ms, not 1 ms from 2.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest
from support import write

from chaosrunner import api
from chaosrunner.execute.ledger import Ledger
from chaosrunner.execute.sampling import Sampler
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.stops import ProbeFailingFor
from chaosrunner.probes.base import Outcome
from chaosrunner.testing import MemorySystem, StaticProbe, memory_drivers
from chaosrunner.timeline import Sample, Timeline


class Scripted:
    """Fails while the run clock is in one of ``down`` ([from, until) spans); answers after ``delay``."""

    def __init__(self, name: str, tl: Timeline, down: list[tuple[float, float]] = (), delay: float = 0.0,
                 timeout: float = 1.0):
        self.name, self.tl, self.down, self.delay, self.timeout = name, tl, list(down), delay, timeout
        self.inflight = self.max_inflight = 0

    async def check(self) -> Outcome:
        t = self.tl.now()
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.inflight -= 1
        ok = not any(a <= t < b for a, b in self.down)
        return Outcome(ok, None, None if ok else "scripted failure")

    async def close(self) -> None:
        return None


def sample(probes, tl: Timeline, seconds: float, *, interval: float, fine: float | None, stable_for: float = 0.3,
           during=None) -> Sampler:
    async def go() -> Sampler:
        s = Sampler(probes, tl, interval, fine=fine, stable_for=stable_for)
        s.start()
        if during is not None:
            await during(s)
        await asyncio.sleep(seconds - (tl.now() - t_start))
        await s.stop()
        return s

    t_start = tl.now()
    return asyncio.run(go())


def starts(tl: Timeline, probe: str, lo: float = 0.0, hi: float = 1e9) -> list[float]:
    return sorted(s.start for s in tl.samples if s.probe == probe and lo <= s.start < hi)


def gaps(xs: list[float]) -> list[float]:
    return [b - a for a, b in zip(xs, xs[1:], strict=False)]


def test_while_every_probe_holds_only_the_interval_is_sampled():
    tl = Timeline()
    sample([Scripted("a", tl)], tl, 1.05, interval=0.1, fine=0.01)
    xs = starts(tl, "a")
    assert 9 <= len(xs) <= 12, xs                         # 10 per second, as without fine sampling
    assert min(gaps(xs)) > 0.07, gaps(xs)                 # never a fine sample


def test_a_failing_probe_is_sampled_finely_until_it_has_held_for_stable_for_again():
    tl = Timeline()
    # down over [0.3, 0.6); stable_for 0.3 → fine from the first failed sample (≈0.3) until ≈0.9+
    sample([Scripted("a", tl, down=[(0.3, 0.6)])], tl, 2.0, interval=0.2, fine=0.02, stable_for=0.3)
    failed = [s.start for s in tl.samples if not s.ok]
    first_fail = min(failed)
    during = starts(tl, "a", first_fail, 0.85)
    assert len(during) >= 15, during                      # ≈ 50/s instead of 5/s
    assert statistics.median(gaps(during)) < 0.03, gaps(during)
    # the recovery is timed as finely: the first ok sample after the failures is ≤ ~1 fine period late
    first_ok = min(s.start for s in tl.samples if s.ok and s.start > max(failed))
    assert first_ok - 0.6 < 0.05, first_ok
    after = starts(tl, "a", 1.1, 2.0)                     # held for stable_for: back to the interval
    assert len(after) <= 6 and min(gaps(after)) > 0.15, after


def test_fine_off_samples_at_the_interval_even_while_failing():
    tl = Timeline()
    sample([Scripted("a", tl, down=[(0.2, 0.8)])], tl, 1.2, interval=0.2, fine=None)
    assert min(gaps(starts(tl, "a"))) > 0.15


def test_fine_at_or_above_the_interval_is_off():
    assert Sampler([], Timeline(), 0.1, fine=0.1).fine is None
    assert Sampler([], Timeline(), 0.1, fine=0.001).fine == 0.005      # the floor: never below 5 ms


def test_watch_samples_every_probe_finely_for_its_window():
    tl = Timeline()

    async def during(s: Sampler) -> None:
        await asyncio.sleep(0.5)
        s.watch(0.4)

    sample([Scripted("a", tl), Scripted("b", tl)], tl, 1.6, interval=0.2, fine=0.02, during=during)
    for p in ("a", "b"):
        before, watched, later = starts(tl, p, 0, 0.5), starts(tl, p, 0.55, 0.88), starts(tl, p, 1.0, 1.6)
        assert len(before) <= 4 and len(later) <= 4, (before, later)
        assert len(watched) >= 10, watched


def test_fine_deadlines_are_fixed_and_the_interval_grid_is_kept():
    tl = Timeline()
    sample([Scripted("a", tl, down=[(0.0, 1.0)])], tl, 1.0, interval=0.2, fine=0.025, stable_for=1.0)
    xs = starts(tl, "a", 0.1, 0.95)
    origin = starts(tl, "a")[0]
    offsets = [((x - origin) / 0.025) % 1.0 for x in xs]
    lateness = sorted(min(o, 1 - o) * 0.025 for o in offsets)     # distance to the nearest grid point
    assert lateness[len(lateness) // 2] < 0.003, lateness
    # no drift: sample k is at origin + k × fine, not at the previous one's end + fine
    assert abs(xs[-1] - xs[0] - round((xs[-1] - xs[0]) / 0.025) * 0.025) < 0.01


def test_no_burst_after_a_stall():
    tl = Timeline()

    async def during(s: Sampler) -> None:
        await asyncio.sleep(0.4)
        time.sleep(0.5)                                   # the whole loop stalls for 0.5 s

    sample([Scripted("a", tl, down=[(0.0, 2.0)])], tl, 1.3, interval=0.1, fine=0.02, stable_for=1.0,
           during=during)
    xs = starts(tl, "a")
    stall_end = next(x for x in xs if x > 0.85)
    burst = [x for x in xs if stall_end <= x < stall_end + 0.015]
    assert len(burst) <= 2, burst                         # one (maybe the interval's) — never the 25 missed


def test_a_slow_probe_delays_no_other_and_has_one_fine_sample_in_flight():
    tl = Timeline()
    slow = Scripted("slow", tl, down=[(0.0, 2.0)], delay=0.3, timeout=1.0)
    fast = Scripted("fast", tl, down=[(0.0, 2.0)])
    sample([slow, fast], tl, 1.5, interval=0.25, fine=0.02, stable_for=1.0)
    xs = starts(tl, "fast", 0.3, 1.4)
    assert max(gaps(xs)) < 0.12, gaps(xs)                 # the fast one keeps its fine rate (0.3 s if held up)
    # the slow one: its interval samples overlap (0.3 s > 0.25 s) plus at most one fine sample
    assert slow.max_inflight <= 3, slow.max_inflight
    assert len(starts(tl, "slow", 0.3, 1.4)) <= 1.1 / 0.25 + 1.1 / 0.3 + 2


def test_the_request_rate_in_fine_mode_is_bounded_by_fine():
    tl = Timeline()
    sample([Scripted("a", tl, down=[(0.0, 3.0)])], tl, 1.0, interval=0.1, fine=0.02, stable_for=1.0)
    n = len(starts(tl, "a", 0.1, 0.9))
    assert 30 <= n <= 0.8 / 0.02 + 2, n                   # ≈ 40: the union of both grids is the fine grid


# -- the session: watch after inject and revert, stop conditions after every sample --------------
INVENTORY = """\
targets:
  db: {toxiproxy: {api: "http://127.0.0.1:9", proxy: db}}
"""


def _plan(tmp_path: Path):
    write(tmp_path / "inv.yaml", INVENTORY)
    exp = write(tmp_path / "exp.yaml", "name: mem\ntargets: inv.yaml\n"
                "steady_state:\n  - probe: {type: tcp, name: db ok, host: 127.0.0.1, port: 9}\n"
                "method:\n  - action: {type: network, target: db, operation: partition, duration: 1s}\n")
    [p] = api.plan(exp)
    return p


def test_the_session_watches_finely_after_each_inject_and_revert(tmp_path):
    p = _plan(tmp_path)
    [fault] = p.faults()
    system = MemorySystem()
    tl = Timeline()
    other = Scripted("other", tl)                         # never fails: only the watch makes it fine

    async def go() -> tuple[float, float]:
        async with FaultSession(tl, Ledger(run_id="mem"), [other], interval=0.2, fine=0.02, stable_for=0.2,
                                watch=0.3, drivers=memory_drivers(system)) as s:
            s.start_sampling()
            await asyncio.sleep(0.6)
            await s.inject(fault)
            injected = tl.now()
            await asyncio.sleep(0.6)
            await s.revert(fault.fault_id, "test")
            reverted = tl.now()
            await asyncio.sleep(0.6)
            await s.stop_sampling()
            return injected, reverted

    injected, reverted = asyncio.run(go())
    assert system.faults == {}                            # reverted
    for t in (injected, reverted):
        assert len(starts(tl, "other", t, t + 0.28)) >= 8, (t, starts(tl, "other"))
        assert len(starts(tl, "other", t + 0.35, t + 0.6)) <= 2
    assert len(starts(tl, "other", 0.0, 0.55)) <= 4


def test_stop_conditions_are_checked_after_every_sample_in_fine_mode():
    """interval 1 s: checked only every interval, ``probe_failing_for: 100ms`` would trip ≥ 1 s late."""
    system = MemorySystem()
    tl = Timeline()
    probe = Scripted("a", tl, down=[(0.3, 10.0)])

    async def go() -> float | None:
        async with FaultSession(tl, Ledger(run_id="mem"), [probe], interval=1.0, fine=0.02, stable_for=0.5,
                                stop_conditions=[ProbeFailingFor(0.1, ("a",))],
                                drivers=memory_drivers(system)) as s:
            s.start_sampling()
            for _ in range(300):
                if s.aborted:
                    return tl.now()
                await asyncio.sleep(0.01)
            await s.stop_sampling()
            return None

    # the first failed sample comes at the next interval deadline (t = 1.0, no fault to watch), then fine
    tripped = asyncio.run(go())
    first_fail = min(s.start for s in tl.samples if not s.ok)
    assert tripped is not None and tripped - first_fail < 0.3, (first_fail, tripped)


def test_failing_since_is_tracked_as_the_timeline_would_say(tmp_path):
    from chaosrunner.execute.stops import FailingTracker, failing_since

    tl = Timeline()
    tracker = FailingTracker(tl)
    for start, ok in [(0.0, True), (0.1, False), (0.2, False), (0.15, False), (0.3, True), (0.4, False)]:
        tl.add_sample(Sample("a", start, start + 0.01, ok))
        assert tracker.failing_since("a") == failing_since(tl, "a")
    assert tracker.failing_since("a", overdue=[0.35]) == failing_since(tl, "a", [0.35]) == 0.35


@pytest.mark.parametrize("text,expected", [("fine: off", None), ("fine: 10ms", 0.01), ("{}", 0.025)])
def test_sampling_fine_is_read_from_the_file(tmp_path, text, expected):
    write(tmp_path / "inv.yaml", INVENTORY)
    exp = write(tmp_path / "exp.yaml", "name: s\ntargets: inv.yaml\n"
                "steady_state:\n  - probe: {type: tcp, host: 127.0.0.1, port: 9}\n"
                f"sampling: {{interval: 250ms, {text.strip('{}')}}}\nmethod:\n  - pause: 1s\n")
    [p] = api.plan(exp)
    assert p.experiment.model.sampling.fine == expected
    assert p.experiment.model.sampling.watch == 2.0


def test_a_bad_fine_is_refused_with_file_line_and_range(tmp_path):
    from support import run_cli

    write(tmp_path / "inv.yaml", INVENTORY)
    exp = write(tmp_path / "exp.yaml", "name: s\ntargets: inv.yaml\n"
                "steady_state:\n  - probe: {type: tcp, host: 127.0.0.1, port: 9}\n"
                "sampling:\n  interval: 250ms\n  fine: 1ms\nmethod:\n  - pause: 1s\n")
    out = run_cli("validate", str(exp))
    assert out.returncode == 2, out
    text = out.stdout + out.stderr
    assert "exp.yaml:7" in text and "sampling.fine must be between 5ms and 10m" in text, text
    assert "Traceback" not in text


def test_static_probe_sessions_keep_working_without_fine():
    """A session built without ``fine`` (as before) samples on the interval only."""
    system = MemorySystem()
    tl = Timeline()

    async def go() -> None:
        async with FaultSession(tl, Ledger(run_id="mem"), [StaticProbe("p", system, "db")], interval=0.1,
                                drivers=memory_drivers(system)) as s:
            s.start_sampling()
            await asyncio.sleep(0.55)
            await s.stop_sampling()

    asyncio.run(go())
    assert 4 <= len(tl.samples) <= 7
