"""Recovery measurement: detection time, recovery time (RTO measured) and time out of SLO.

Pure functions over probe samples and fault windows (no I/O, no clock). The definitions are
the ones the report prints (DESIGN.md, "Measurement definitions"):

- A sample's instant is its ``start``. A sample that failed for any reason — including a probe
  timeout, which the sampler records as a failed sample — counts as a failure.
- ``t0`` of a fault window is its first ``FAULT_INJECTED`` event. A window's *scope* runs from
  its ``t0`` to the next window's ``t0`` (or to the end of the observations).
- Detection time = start of the first failed sample (any steady-state probe) at or after
  ``t0``, minus ``t0``.
- "Every probe ok over ``[r, r + stable_for)``": each steady-state probe has at least one
  sample starting in that interval, every such sample is ok, every probe's latest sample at
  ``r`` is ok (so a window never opens while a probe's last word was a failure), and the
  observations reach ``r + stable_for`` (within the scope).
- Recovery time = ``r − t0`` for the earliest such ``r`` (``r`` is ``t0`` or a sample start).
  When the steady state deviated in the scope, ``r`` must come after the first failed sample:
  a system that fails 10 s after the fault and stays down has not recovered "at 0 s".
  No deviation → 0. No such window → ``math.inf`` (never recovered).
- Resolution (the ± printed): the one the samples achieved (``analyse.resolution``): for the
  recovery time, ``r`` minus the last failed sample before it; for detection, the first failed
  sample minus its probe's previous sample (or ``t0``, when later). Adaptive sampling makes both
  about ``sampling.fine``; without a deviation, the sampling interval.
- Time out of SLO = the time in the scope during which the latest sample of at least one
  probe was failed (each sample holds until the next sample of the same probe).
- Relapses = deviations that began after the recovery; several deviations mean flapping.
- Origin: an objective may name the fault it is timed from (``rto: {within, from: <action name or
  fault id>}``). In a window where that fault was injected, recovery time = ``r`` − that fault's
  injection (never negative), and the window records the origin and its offset from ``t0``; a
  window without it is not judged against that objective (skipped). Detection stays from ``t0``.
- Every window lists its faults (id, action name, target, type) with their offsets from ``t0``
  (inject and revert), so a window that merged overlapping faults is never read as one fault.
- A multi-window run is judged per window; ``worst`` picks the window the run is judged on (the
  longest time; unbounded beats any number).
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.resolution import detection_resolution, recovery_resolution
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import Event, EventKind, FaultWindow, Sample, Timeline, fault_windows
from chaosrunner.units import format_duration


def json_seconds(value: float | None) -> float | None:
    """Seconds for JSON: ``math.inf`` (unbounded) becomes ``None``; callers carry a flag beside it."""
    return None if value is None or math.isinf(value) else value


@dataclass(frozen=True)
class RecoveryResult:
    """What the steady state did in one fault window. Times in seconds; run-clock instants."""

    window: int
    t0: float
    reverted_at: float | None        # end of the fault window (last revert); None = never reverted
    scope_end: float                 # where this window's observations stop
    resolution: float                # ± on the recovery time, as the samples achieved it (analyse.resolution)
    stable_for: float
    samples: int                     # steady-state samples in the scope
    failed_samples: int
    detected: bool                   # a sample failed in the scope
    detection_time: float | None     # first failed sample − t0
    first_failure: dict[str, Any] | None   # {probe, t, error} of that sample
    recovered: bool
    recovery_time: float             # RTO measured; 0 = no deviation; math.inf = never recovered
    recovered_at: float | None       # run-clock start of the first stable window
    out_of_slo: float                # seconds in the scope with at least one probe failing
    deviations: int                  # separate periods out of SLO in the scope
    relapses: int                    # deviations that began after the recovery
    measured: bool = True            # False: no steady-state sample at all in the scope
    note: str = ""
    origin: str | None = None        # the fault the recovery time is measured from (None: t0)
    origin_at: float | None = None   # run clock of that fault's injection; None: not in this window

    @property
    def flapping(self) -> bool:
        return self.deviations > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window, "t0": self.t0, "reverted_at": self.reverted_at, "scope_end": self.scope_end,
            "resolution": self.resolution, "stable_for": self.stable_for, "samples": self.samples,
            "failed_samples": self.failed_samples, "detected": self.detected,
            "detection_time": self.detection_time, "first_failure": self.first_failure,
            "recovered": self.recovered, "recovery_time": json_seconds(self.recovery_time),
            "recovered_at": self.recovered_at, "out_of_slo": self.out_of_slo, "deviations": self.deviations,
            "relapses": self.relapses, "flapping": self.flapping, "measured": self.measured, "note": self.note,
            "origin": self.origin, "origin_at": self.origin_at,
        }


class _ProbeSeries:
    """One probe's samples ordered by start, with a prefix count of failures for window queries."""

    def __init__(self, samples: list[Sample]):
        self.samples = sorted(samples, key=lambda s: s.start)
        self.starts = [s.start for s in self.samples]
        self.fail_prefix = [0]
        for s in self.samples:
            self.fail_prefix.append(self.fail_prefix[-1] + (0 if s.ok else 1))

    def all_ok_in(self, lo_t: float, hi_t: float) -> bool:
        """At least one sample starts in [lo_t, hi_t) and none of them failed."""
        lo, hi = bisect_left(self.starts, lo_t), bisect_left(self.starts, hi_t)
        return hi > lo and self.fail_prefix[hi] == self.fail_prefix[lo]

    def latest_ok_at(self, t: float) -> bool | None:
        """Whether the latest sample starting at or before ``t`` was ok; None before the first one."""
        i = bisect_left(self.starts, t + 1e-12) - 1
        return None if i < 0 else self.samples[i].ok


def steady_series(samples: Iterable[Sample], probes: Sequence[str]) -> dict[str, _ProbeSeries]:
    by_probe: dict[str, list[Sample]] = {p: [] for p in probes}
    for s in samples:
        if s.probe in by_probe:
            by_probe[s.probe].append(s)
    return {p: _ProbeSeries(v) for p, v in by_probe.items()}


def steady_ok_at(series: dict[str, _ProbeSeries], t: float) -> bool:
    """The steady state at instant ``t``: every probe's latest sample so far was ok (unsampled = unknown = not ok)."""
    return all(s.latest_ok_at(t) is True for s in series.values())


def _out_of_slo(series: dict[str, _ProbeSeries], lo: float, hi: float) -> tuple[float, list[float]]:
    """Seconds in [lo, hi) with some probe's latest sample failed, and the instants each deviation began."""
    points = sorted({lo, *(t for s in series.values() for t in s.starts if lo < t < hi)})
    total, began, previous_bad = 0.0, [], False
    for i, t in enumerate(points):
        bad = any(s.latest_ok_at(t) is False for s in series.values())
        if bad:
            total += (points[i + 1] if i + 1 < len(points) else hi) - t
            if not previous_bad:
                began.append(t)
        previous_bad = bad
    return total, began


def window_faults(events: Iterable[Event], window: FaultWindow) -> list[dict[str, Any]]:
    """The faults of one window in injection order: ``{fault_id, step, target, type, offset, reverted}``
    (offsets in seconds from the window's ``t0``; ``reverted`` None: never reverted)."""
    injected: dict[str, Event] = {}
    reverted: dict[str, float] = {}
    for ev in events:
        fid = ev.data.get("fault_id")
        if fid not in window.fault_ids:
            continue
        if ev.kind is EventKind.FAULT_INJECTED and fid not in injected:
            injected[fid] = ev
        elif ev.kind is EventKind.FAULT_REVERTED and fid not in reverted:
            reverted[fid] = ev.t
    return [{"fault_id": fid, "step": ev.data.get("step"), "target": ev.data.get("target", ""),
             "type": ev.data.get("type", ""), "offset": ev.t - window.start,
             "reverted": reverted[fid] - window.start if fid in reverted else None}
            for fid, ev in sorted(injected.items(), key=lambda kv: kv[1].t)]


def origin_in(events: Iterable[Event], window: FaultWindow, ref: str | None) -> float | None:
    """When the fault ``ref`` (a fault id or an action's name) was injected in ``window``; None: not there."""
    if ref is None:
        return window.start
    for f in window_faults(events, window):
        if ref in (f["fault_id"], f["step"]):
            return window.start + float(f["offset"])
    return None


def recovery_in_window(series: dict[str, _ProbeSeries], window: FaultWindow, scope_end: float,
                       interval: float, stable_for: float, origin: float | None = None) -> RecoveryResult:
    """Measure one fault window; ``scope_end`` is the next window's t0 or the end of observations;
    ``origin`` is the instant recovery time is measured from (default: ``t0``)."""
    t0 = window.start
    since = t0 if origin is None else origin
    in_scope = [s for ps in series.values() for s in ps.samples if t0 <= s.start < scope_end]
    in_scope.sort(key=lambda s: s.start)
    failed = [s for s in in_scope if not s.ok]
    common: dict[str, Any] = dict(window=window.index, t0=t0, reverted_at=window.end, scope_end=scope_end,
                                  resolution=interval, stable_for=stable_for, samples=len(in_scope),
                                  failed_samples=len(failed))
    if not in_scope or not series:
        return RecoveryResult(**common, detected=False, detection_time=None, first_failure=None, recovered=False,
                              recovery_time=math.inf, recovered_at=None, out_of_slo=0.0, deviations=0, relapses=0,
                              measured=False, note="no steady-state sample was taken in this window")
    first = failed[0] if failed else None
    earliest = first.start if first else t0
    candidates = sorted({t0, *(s.start for s in in_scope)})
    recovered_at = None
    for r in candidates:
        if first is not None and r <= earliest:
            continue
        if r + stable_for > scope_end + 1e-9:
            break
        if steady_ok_at(series, r) and all(ps.all_ok_in(r, r + stable_for) for ps in series.values()):
            recovered_at = r
            break
    out, began = _out_of_slo(series, t0, scope_end)
    relapses = sum(1 for b in began if recovered_at is not None and b > recovered_at)
    note = ""
    if recovered_at is None:
        note = f"no {format_duration(stable_for)} window with every probe ok before the end of the observations"
    elif relapses:
        note = f"the steady state failed again {relapses} time(s) after recovering"
    if recovered_at is not None and first is not None:     # the ± achieved by the samples (analyse.resolution)
        common["resolution"] = recovery_resolution(in_scope, recovered_at, interval)
    return RecoveryResult(
        **common, detected=first is not None,
        detection_time=None if first is None else first.start - t0,
        first_failure=None if first is None else {
            "probe": first.probe, "t": first.start, "error": first.error,
            "resolution": detection_resolution(series[first.probe].samples, first, t0, interval)},
        recovered=recovered_at is not None,
        recovery_time=math.inf if recovered_at is None else (0.0 if first is None else max(0.0, recovered_at - since)),
        recovered_at=recovered_at, out_of_slo=out, deviations=len(began), relapses=relapses, note=note,
        origin_at=since)


def recovery_results(samples: Iterable[Sample], events: Iterable[Event], probes: Sequence[str], interval: float,
                     stable_for: float, end: float | None = None, origin: str | None = None) -> list[RecoveryResult]:
    """One ``RecoveryResult`` per fault window (an empty list when no fault was injected).

    ``probes`` are the steady-state probe names; ``end`` is the end of the observations
    (default: last sample start + one interval); ``origin`` names the fault recovery is timed from.
    """
    samples = list(samples)
    events = list(events)
    windows = fault_windows(events)
    series = steady_series(samples, probes)
    starts = [s.start for ps in series.values() for s in ps.samples]
    horizon = end if end is not None else (max(starts) + interval if starts else 0.0)
    results = []
    for i, w in enumerate(windows):
        nxt = windows[i + 1].start if i + 1 < len(windows) else None
        scope_end = min(nxt, horizon) if nxt is not None else horizon
        at = origin_in(events, w, origin)
        res = recovery_in_window(series, w, max(scope_end, w.start), interval, stable_for, at)
        if nxt is not None and not res.recovered and res.measured and scope_end == nxt:
            res = _with_note(res, f"no {format_duration(stable_for)} window with every probe ok before the next fault")
        if origin is not None:
            res = replace(res, origin=origin, origin_at=at)
        results.append(res)
    return results


def worst(values: Sequence[tuple[int, float | None]]) -> tuple[int, float] | None:
    """``(window, value)`` with the longest time (``math.inf`` first); None when nothing was measured."""
    known = [(w, v) for w, v in values if v is not None]
    return max(known, key=lambda wv: wv[1]) if known else None


def _with_note(res: RecoveryResult, note: str) -> RecoveryResult:
    return replace(res, note=note)


def recovery_from_timeline(tl: Timeline, probes: Sequence[str], interval: float,
                           stable_for: float, origin: str | None = None) -> list[RecoveryResult]:
    return recovery_results(tl.samples, tl.events, probes, interval, stable_for, origin=origin)


def _detection_pm(res: RecoveryResult) -> float:
    """The ± the detection time achieved (``first_failure.resolution``), else the window's."""
    got = (res.first_failure or {}).get("resolution")
    return float(got) if got is not None else res.resolution


def _pm(seconds: float, resolution: float) -> str:
    return f"{format_duration(seconds)} ± {format_duration(resolution)}"


def rto_verdicts(results: Sequence[RecoveryResult], rto: float | None) -> list[Verdict]:
    """Judge ``objectives.rto`` per fault window; ``[]`` when there is no RTO objective."""
    if rto is None:
        return []
    expected = f"≤ {format_duration(rto)}"
    if not results:
        return [Verdict("rto", Status.SKIPPED, expected, "no fault was injected",
                        "recovery time is measured from a fault's injection; none happened, so the objective "
                        "does not apply to this run", kind="objective")]
    if all(r.origin is not None and r.origin_at is None for r in results):
        return [Verdict("rto", Status.UNKNOWN, expected, "not measured",
                        f"{results[0].origin} (objectives.rto.from) was never injected", kind="objective",
                        data={"windows": [r.to_dict() for r in results]})]
    out = []
    for res in results:
        name = "rto" if len(results) == 1 else f"rto (fault window {res.window + 1})"
        data = res.to_dict()
        if res.origin is not None and res.origin_at is None:
            out.append(Verdict(name, Status.SKIPPED, expected, "not timed here",
                               f"{res.origin} was not injected in this fault window", kind="objective", data=data))
            continue
        if not res.measured:
            out.append(Verdict(name, Status.UNKNOWN, expected, "not measured", res.note, kind="objective", data=data))
            continue
        if not res.recovered:
            out.append(Verdict(name, Status.FAILED, expected, "never recovered (unbounded)",
                               f"{res.note}; out of SLO for {format_duration(res.out_of_slo)}", value=None,
                               precision=res.resolution, kind="objective", data=data))
            continue
        ok = res.recovery_time <= rto
        if not res.detected:
            detail = "the steady state never deviated"
        else:
            detail = (f"timed from {res.origin} (+{format_duration(res.origin_at - res.t0)} after t0); "
                      if res.origin is not None and res.origin_at is not None else "")
            detail += (f"detected after {_pm(res.detection_time or 0.0, _detection_pm(res))}; out of SLO for "
                      f"{format_duration(res.out_of_slo)}; every probe ok for {format_duration(res.stable_for)} "
                      f"from +{format_duration(res.recovery_time)}")
            if res.note:
                detail += f"; {res.note}"
        out.append(Verdict(name, Status.PASSED if ok else Status.FAILED, expected,
                           _pm(res.recovery_time, res.resolution), detail, value=res.recovery_time,
                           precision=res.resolution, kind="objective", data=data))
    return out
