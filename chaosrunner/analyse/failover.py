"""Failover measurement from ``role`` probe samples: failover, failback and split brain.

Pure functions (no I/O, no clock). A role sample's ``role`` names the node(s) that answered as
primary; several names joined with "," mean several nodes claimed primary in that sample.

- Primary before = the single primary named by the last role sample before ``t0``.
- Failover time = start of the first role sample at or after ``t0`` that names one primary
  different from the primary before *and* at whose instant the steady state is ok (every
  steady-state probe's latest sample ok, the role sample included when it is one), minus
  ``t0``. "A failover happened" = some role sample in the window's scope named a single,
  different primary, whether or not the steady state was ok then.
- Failback time = first role sample after the failover naming the original primary again with
  the steady state ok, minus the window's revert (the moment the old primary could return),
  or minus the failover instant when the window was never reverted; never negative.
- Split brain = a sample in which two or more different nodes claimed primary.
- A fault window whose steady state never deviated (no failed sample of any steady-state probe,
  the role probe included, in its scope) and in which no failover happened needed none: its
  failover and failback verdicts are SKIPPED ("no deviation: no failover needed"). When every
  window skips, the objective was never exercised and its verdict is UNKNOWN (the run is then
  inconclusive, not held). No fault injected at all → SKIPPED (the objective does not apply).
- Origin: ``failover: {probe, within, from: <action name or fault id>}`` times the failover from that
  fault's injection instead of the window's ``t0`` (never negative); a window where it was not
  injected is not judged (skipped), and when it was injected in none the objective is not measured.
Resolution: the one the samples achieved (``analyse.resolution``): failover, the first qualifying
role sample minus the previous role sample or failed steady sample (never before the origin);
failback the same after the failover (``failback_resolution``); otherwise the sampling interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Sequence

from chaosrunner.analyse.recovery import json_seconds, origin_in, steady_ok_at, steady_series
from chaosrunner.analyse.resolution import role_change_resolution
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import Event, Sample, fault_windows
from chaosrunner.units import format_duration


def primaries(sample: Sample) -> tuple[str, ...]:
    """The distinct nodes a role sample names as primary (empty: nobody answered as primary)."""
    if not sample.role:
        return ()
    return tuple(dict.fromkeys(n.strip() for n in str(sample.role).split(",") if n.strip()))


def split_brain_instants(samples: Iterable[Sample], probe: str) -> list[dict[str, Any]]:
    """Every sample of ``probe`` in which several nodes claimed primary: ``{t, nodes}``."""
    return [{"t": s.start, "nodes": list(primaries(s))} for s in sorted(samples, key=lambda s: s.start)
            if s.probe == probe and len(primaries(s)) > 1]


@dataclass(frozen=True)
class FailoverResult:
    window: int
    t0: float
    reverted_at: float | None
    probe: str
    resolution: float
    primary_before: str | None
    failed_over: bool                  # a different single primary was named in the scope
    new_primary: str | None
    failover_time: float               # math.inf: no failover with the steady state ok
    failover_at: float | None
    failed_back: bool
    failback_time: float               # math.inf: no failback observed
    failback_at: float | None
    split_brain: tuple[dict[str, Any], ...]
    measured: bool = True
    note: str = ""
    deviated: bool = True              # a steady-state sample (role probe included) failed in the scope
    origin: str | None = None          # the fault the failover is timed from (None: t0)
    origin_at: float | None = None     # its injection; None with an origin: not injected in this window
    failback_resolution: float | None = None   # ± on the failback time (``resolution`` is the failover's)

    @property
    def not_needed(self) -> bool:
        """The steady state never deviated and nobody failed over: this window needed no failover."""
        return self.measured and not self.deviated and not self.failed_over

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window, "t0": self.t0, "reverted_at": self.reverted_at, "probe": self.probe,
            "resolution": self.resolution, "primary_before": self.primary_before, "failed_over": self.failed_over,
            "new_primary": self.new_primary, "failover_time": json_seconds(self.failover_time),
            "failover_at": self.failover_at, "failed_back": self.failed_back,
            "failback_time": json_seconds(self.failback_time), "failback_at": self.failback_at,
            "split_brain": list(self.split_brain), "measured": self.measured, "note": self.note,
            "deviated": self.deviated, "origin": self.origin, "origin_at": self.origin_at,
            "failback_resolution": self.failback_resolution,
        }

    @property
    def origin_missing(self) -> bool:
        return self.origin is not None and self.origin_at is None


def failover_results(samples: Iterable[Sample], events: Iterable[Event], probe: str, steady_probes: Sequence[str],
                     interval: float, origin: str | None = None) -> list[FailoverResult]:
    """One ``FailoverResult`` per fault window for the role probe ``probe``, timed from ``origin`` (a fault)."""
    samples = list(samples)
    events = list(events)
    role = sorted((s for s in samples if s.probe == probe), key=lambda s: s.start)
    names = list(dict.fromkeys([*steady_probes, probe]))
    series = steady_series(samples, names)
    windows = fault_windows(events)
    out = []
    for i, w in enumerate(windows):
        scope_end = windows[i + 1].start if i + 1 < len(windows) else math.inf
        scoped = [s for s in role if w.start <= s.start < scope_end]
        before = [s for s in role if s.start < w.start and len(primaries(s)) == 1]
        deviated = any(not s.ok for ps in series.values() for s in ps.samples if w.start <= s.start < scope_end)
        at = origin_in(events, w, origin)
        since = w.start if at is None else at
        common: dict[str, Any] = dict(window=w.index, t0=w.start, reverted_at=w.end, probe=probe, resolution=interval,
                      split_brain=tuple(split_brain_instants(scoped, probe)), deviated=deviated, origin=origin,
                      origin_at=at)
        if not before:
            out.append(FailoverResult(**common, primary_before=None, failed_over=False, new_primary=None,
                                      failover_time=math.inf, failover_at=None, failed_back=False,
                                      failback_time=math.inf, failback_at=None, measured=False,
                                      note=f"{probe} named no single primary before the fault"))
            continue
        old = primaries(before[-1])[0]
        changed = [s for s in scoped if len(primaries(s)) == 1 and primaries(s)[0] != old]
        done = next((s for s in changed if s.ok and steady_ok_at(series, s.start)), None)
        failover_at = done.start if done else None
        back = None
        if done is not None:
            back = next((s for s in scoped if s.start > done.start and primaries(s) == (old,) and s.ok
                         and steady_ok_at(series, s.start)), None)
        note = ""
        if changed and done is None:
            note = f"{primaries(changed[0])[0]} became primary but the steady state was never ok"
        elif not changed:
            note = f"{old} stayed primary" + ("" if deviated else "; the steady state never deviated")
        reference = w.end if w.end is not None else failover_at
        # the ± each instant achieved: the previous role sample or failed steady sample (analyse.resolution)
        steady_scoped = [s for ps in series.values() for s in ps.samples if w.start <= s.start < scope_end]
        if done is not None:
            common["resolution"] = role_change_resolution([s for s in scoped if s.start < done.start], steady_scoped,
                                                          done.start, since, interval)
        if done is not None and back is not None:
            common["failback_resolution"] = role_change_resolution(
                [s for s in scoped if done.start <= s.start < back.start], steady_scoped, back.start,
                reference if reference is not None else done.start, interval)
        out.append(FailoverResult(
            **common, primary_before=old, failed_over=bool(changed),
            new_primary=primaries(done or changed[0])[0] if changed else None,
            failover_time=math.inf if done is None else max(0.0, done.start - since), failover_at=failover_at,
            failed_back=back is not None,
            failback_time=math.inf if back is None or reference is None else max(0.0, back.start - reference),
            failback_at=None if back is None else back.start, note=note))
    return out


def _name(base: str, res: FailoverResult, n: int) -> str:
    return base if n == 1 else f"{base} (fault window {res.window + 1})"


def _pm(seconds: float, resolution: float) -> str:
    return f"{format_duration(seconds)} ± {format_duration(resolution)}"


NO_FAULT = "no fault was injected: the objective does not apply to this run"
NOT_NEEDED = "no deviation: no failover needed"


def _never_exercised(which: str, expected: str, results: Sequence[FailoverResult]) -> Verdict | None:
    """UNKNOWN when no fault window called for a failover (so its time could not be measured)."""
    if not results or not all(r.not_needed for r in results):
        return None
    windows = "the fault window" if len(results) == 1 else f"all {len(results)} fault windows"
    return Verdict(which, Status.UNKNOWN, expected, "not exercised",
                   f"the steady state never deviated in {windows}: no failover was needed, so the {which} time "
                   "could not be measured", kind="objective", data={"windows": [r.to_dict() for r in results]})


def failover_verdicts(results: Sequence[FailoverResult], within: float | None) -> list[Verdict]:
    """Judge ``objectives.failover.within`` per fault window; ``[]`` without that objective."""
    if within is None:
        return []
    expected = f"failover ≤ {format_duration(within)}"
    if not results:
        return [Verdict("failover", Status.SKIPPED, expected, "no fault was injected", NO_FAULT, kind="objective")]
    if all(r.origin_missing for r in results):
        return [Verdict("failover", Status.UNKNOWN, expected, "not measured",
                        f"{results[0].origin} (objectives.failover.from) was never injected", kind="objective",
                        data={"windows": [r.to_dict() for r in results]})]
    never = _never_exercised("failover", expected, [r for r in results if not r.origin_missing])
    if never is not None:
        return [never]
    out = []
    for res in results:
        name, data = _name("failover", res, len(results)), res.to_dict()
        if res.origin_missing:
            out.append(Verdict(name, Status.SKIPPED, expected, "not timed here",
                               f"{res.origin} was not injected in this fault window", kind="objective", data=data))
        elif res.not_needed:
            out.append(Verdict(name, Status.SKIPPED, expected, "not needed", NOT_NEEDED, kind="objective",
                               data=data))
        elif not res.measured:
            out.append(Verdict(name, Status.UNKNOWN, expected, "not measured", res.note, kind="objective", data=data))
        elif not res.failed_over:
            out.append(Verdict(name, Status.FAILED, expected, "no failover happened", res.note, kind="objective",
                               data=data))
        elif math.isinf(res.failover_time):
            out.append(Verdict(name, Status.FAILED, expected, "never completed (unbounded)", res.note,
                               kind="objective", precision=res.resolution, data=data))
        else:
            ok = res.failover_time <= within
            out.append(Verdict(name, Status.PASSED if ok else Status.FAILED, expected,
                               _pm(res.failover_time, res.resolution),
                               f"{res.primary_before} → {res.new_primary}, steady state ok"
                               + (f"; timed from {res.origin} (+{format_duration(res.origin_at - res.t0)} after t0)"
                                  if res.origin is not None and res.origin_at is not None else ""),
                               value=res.failover_time, precision=res.resolution, kind="objective", data=data))
    return out


def failback_verdicts(results: Sequence[FailoverResult], within: float | None) -> list[Verdict]:
    """Judge ``objectives.failback.within`` (measured from the fault's revert); ``[]`` without it."""
    if within is None:
        return []
    expected = f"failback ≤ {format_duration(within)}"
    if not results:
        return [Verdict("failback", Status.SKIPPED, expected, "no fault was injected", NO_FAULT, kind="objective")]
    never = _never_exercised("failback", expected, results)
    if never is not None:
        return [never]
    out = []
    for res in results:
        name, data = _name("failback", res, len(results)), res.to_dict()
        if res.not_needed:
            out.append(Verdict(name, Status.SKIPPED, expected, "not needed", NOT_NEEDED, kind="objective",
                               data=data))
        elif not res.measured or res.failover_at is None:
            out.append(Verdict(name, Status.UNKNOWN, expected, "no failover to fail back from",
                               res.note, kind="objective", data=data))
        elif not res.failed_back:
            out.append(Verdict(name, Status.FAILED, expected, "never failed back (unbounded)",
                               f"{res.new_primary} stayed primary", kind="objective", data=data))
        else:
            ok = res.failback_time <= within
            out.append(Verdict(name, Status.PASSED if ok else Status.FAILED, expected,
                               _pm(res.failback_time, res.failback_resolution or res.resolution),
                               f"{res.new_primary} → {res.primary_before}", value=res.failback_time,
                               precision=res.failback_resolution or res.resolution, kind="objective", data=data))
    return out


def split_brain_verdict(samples: Iterable[Sample], probe: str) -> Verdict:
    """Over the whole run: no sample of the role probe may name two primaries."""
    samples = list(samples)
    seen = [s for s in samples if s.probe == probe]
    if not seen:
        return Verdict("no split brain", Status.UNKNOWN, "one primary at a time", f"{probe} was never sampled",
                       kind="objective")
    found = split_brain_instants(seen, probe)
    if not found:
        return Verdict("no split brain", Status.PASSED, "one primary at a time", f"{len(seen)} role samples",
                       kind="objective", value=0)
    first = found[0]
    return Verdict("no split brain", Status.FAILED, "one primary at a time",
                   f"{len(found)} sample(s) with several primaries",
                   f"first at t={first['t']:.2f}s: {', '.join(first['nodes'])}", value=len(found),
                   kind="objective", data={"instants": found})
