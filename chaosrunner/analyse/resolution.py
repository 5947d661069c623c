"""The resolution a measured instant actually achieved, read from the samples themselves.

A figure's instant is a sample's start (the first failed sample, the first sample of the stable
window, the first role sample naming the new primary). What happened lies between the last
sample that showed the condition *not yet* met and that sample: the figure is known to within
that gap, which is its ± (and never more than the time since the figure's origin, ``floor``).

With adaptive sampling (``chaosrunner.execute.sampling``) the gap varies along a run: about
``sampling.fine`` around each inject and revert and while a probe fails, ``sampling.interval``
elsewhere, longer when the loop stalled or a probe hung. So the resolution is measured per figure,
not assumed from the configuration; ``default`` (the interval) applies only when no sample came
before the instant. Pure functions: no clock, no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable

from chaosrunner.timeline import Sample


def achieved(instant: float, not_yet: Iterable[float], *, floor: float | None = None, default: float) -> float:
    """``instant`` − the latest of ``not_yet`` before it (or ``floor``, when that is later)."""
    prior = max((t for t in not_yet if t < instant), default=None)
    if floor is not None and floor <= instant:
        prior = floor if prior is None else max(prior, floor)
    return default if prior is None else instant - prior


def detection_resolution(samples: Iterable[Sample], first: Sample, t0: float, default: float) -> float:
    """The first failed sample ``first``: its probe's previous sample (ok) and the window's ``t0``
    bound when the failure began."""
    return achieved(first.start, (s.start for s in samples if s.probe == first.probe), floor=t0, default=default)


def recovery_resolution(samples: Iterable[Sample], recovered_at: float, default: float) -> float:
    """The start of the first stable window: the last failed sample before it (any probe) bounds
    when the last probe came back."""
    return achieved(recovered_at, (s.start for s in samples if not s.ok), default=default)


def role_change_resolution(role: Iterable[Sample], steady: Iterable[Sample], at: float, since: float,
                           default: float) -> float:
    """A role sample at ``at`` met the condition (a different primary, steady state ok) and none
    since ``since`` had: the previous role sample, or the last failed steady sample, bounds it."""
    not_yet = [s.start for s in role] + [s.start for s in steady if not s.ok]
    return achieved(at, not_yet, floor=since, default=default)
