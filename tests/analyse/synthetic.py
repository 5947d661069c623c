"""Synthetic timelines with known answers for the analysis tests."""
from __future__ import annotations

from collections.abc import Callable

from chaosrunner.timeline import EventKind, Sample, Timeline


def sample_probe(tl: Timeline, probe: str, until: float, ok: Callable[[float], bool], interval: float = 0.25,
                 offset: float = 0.0, role: Callable[[float], str | None] | None = None,
                 timeout_when: Callable[[float], bool] | None = None, timeout: float = 2.0) -> None:
    """Sample ``probe`` at offset + k × interval; ``ok(t)`` says how the target answered at t."""
    k = 0
    while offset + k * interval < until - 1e-9:
        t = round(offset + k * interval, 9)
        if timeout_when is not None and timeout_when(t):
            tl.add_sample(Sample(probe, t, t + timeout, False, None, f"timed out after {timeout:g}s"))
        else:
            good = ok(t)
            tl.add_sample(Sample(probe, t, t + 0.01, good, 200 if good else 503, None if good else "HTTP 503",
                                 role(t) if role else None))
        k += 1


def fault(tl: Timeline, fid: str, injected: float, reverted: float | None) -> None:
    tl.event(EventKind.FAULT_INJECTED, t=injected, fault_id=fid, target="db", type="process")
    if reverted is not None:
        tl.event(EventKind.FAULT_REVERTED, t=reverted, fault_id=fid, target="db", type="process")
