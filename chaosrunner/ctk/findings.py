"""What chaosrunner's continuous sampling of a Chaos Toolkit hypothesis saw, beside CTK's own verdict.

Pure functions over the run's samples and events (no I/O, no clock). The definitions are those of
``chaosrunner.analyse.recovery`` with the method as the one fault window:

- The window opens at the method's start (``PHASE_STARTED`` method) and closes at its end
  (``PHASE_ENDED`` method); its scope runs to the end of the observations (after the rollbacks).
- Detection = start of the first failed sample of a hypothesis probe at or after the method's
  start, minus that start. Recovery = the first ``stable_for`` window with every hypothesis probe
  ok after that failure, minus the method's start (``math.inf``: never back while sampled).
- Deviations = the times the hypothesis went from every probe ok to some probe failing, counted
  from the method's start to the end of the observations.

These are *findings*: they are shown beside Chaos Toolkit's verdict and never change it, unless the
run is ``strict`` (then a deviation the sampling saw fails the run).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.recovery import recovery_in_window, steady_series
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import Event, EventKind, FaultWindow, Sample
from chaosrunner.units import format_duration

KIND = "finding"


def method_window(events: Iterable[Event]) -> tuple[float, float | None] | None:
    """(start, end) of the method on the run clock; None when the method never started."""
    start = end = None
    for ev in events:
        if ev.data.get("phase") != "method":
            continue
        if ev.kind is EventKind.PHASE_STARTED and start is None:
            start = ev.t
        elif ev.kind is EventKind.PHASE_ENDED and start is not None and end is None:
            end = ev.t
    return None if start is None else (start, end)


def deviations(samples: Sequence[Sample], probes: Sequence[str], since: float) -> int:
    """How many times the latest samples went from all ok to some failing, at or after ``since``."""
    latest: dict[str, bool] = {}
    count = 0
    was_ok = True
    for s in sorted((s for s in samples if s.probe in probes), key=lambda s: s.start):
        latest[s.probe] = s.ok
        ok = all(latest.values())
        if was_ok and not ok and s.start >= since:
            count += 1
        was_ok = ok
    return count


def findings(samples: Iterable[Sample], events: Iterable[Event], probes: Sequence[str], interval: float,
             stable_for: float) -> list[Verdict]:
    """The sampling's findings: detection, recovery and deviations of the hypothesis during the method."""
    samples, events = list(samples), list(events)
    if not probes:
        return []
    window = method_window(events)
    if window is None:
        return [Verdict("sampled hypothesis", Status.SKIPPED, "every hypothesis probe ok", "the method never ran",
                        kind=KIND)]
    start, end = window
    series = steady_series(samples, probes)
    starts = [s.start for s in samples if s.probe in probes]
    horizon = max(starts) + interval if starts else start
    res = recovery_in_window(series, FaultWindow(0, start, end, (), ()), max(horizon, start), interval, stable_for)
    n = deviations(samples, probes, start)
    pm = f" ± {format_duration(interval)}"
    out = [Verdict("sampled hypothesis", Status.FAILED if res.detected else Status.PASSED,
                   "every hypothesis probe ok while sampled", f"{res.failed_samples} of {res.samples} samples failed",
                   detail=(f"first failure: {res.first_failure['probe']}: {res.first_failure.get('error') or 'failed'}"
                           if res.detected and res.first_failure else ""),
                   value=float(res.failed_samples), kind=KIND,
                   data={"samples": res.samples, "failed_samples": res.failed_samples, "deviations": n})]
    if res.detected and res.detection_time is not None:
        out.append(Verdict("detection", Status.PASSED, "measured", format_duration(res.detection_time) + pm,
                           detail="first failed sample after the method started", value=res.detection_time,
                           precision=interval, kind=KIND))
        recovered = res.recovered and not math.isinf(res.recovery_time)
        out.append(Verdict("recovery", Status.PASSED if recovered else Status.FAILED, "measured",
                           format_duration(res.recovery_time) + pm if recovered else "not back while sampled",
                           detail=f"every hypothesis probe ok for {format_duration(stable_for)}, "
                                  "from the method's start",
                           value=res.recovery_time if recovered else None, precision=interval, kind=KIND))
        out.append(Verdict("deviations", Status.FAILED if n else Status.PASSED, "0", str(n),
                           detail="times the sampled hypothesis went from ok to failing"
                                  + (" (flapping)" if n > 1 else ""),
                           value=float(n), kind=KIND))
    return out
