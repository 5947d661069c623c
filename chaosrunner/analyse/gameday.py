"""A game day's expected timings and success criteria, measured over its timeline (pure; no clock).

Definitions (every time on the run clock; an expected timing's ± is the resolution it achieved,
read from the samples as ``analyse.resolution`` reads it: the gap between the last sample that
showed the condition not yet met and the one that met it, never more than the time since the
timing's start; adaptive sampling makes it ``sampling.fine`` where it matters):

- A sample's time is its ``start`` (when the probe asked). A probe's *value* is the role a role
  probe saw (``Sample.role``), else its ``value``.
- ``{probe: P, state: failing|ok}`` holds at the first sample of P, at or after the start, whose
  outcome is that state.
- ``{probe: P, equals: V}`` holds at the first sample at or after the start whose value is V.
- ``{probe: P, changed: true}`` holds at the first sample at or after the start whose value
  differs from the *baseline*: the value of P's last sample before the start (else its first
  sample's) — for a ``wait_until`` step, before T+0, so that "the primary changed" still holds
  when the failover happened before the step began. A failed sample has no value and never
  counts as a change.
- ``{steady: true}`` (``probes: [...]``: only those) holds at the end of the first ``stable_for``
  window in which every probe's
  every sample is ok, that starts after the first failed sample at or after the start — the
  recovery definition of ``analyse.recovery``. With no failed sample after the start the steady
  state never left: it holds at the start (measured 0, said so).
- An expected timing ``{within, from, until}`` is measured from its start (the phase's or
  step's start event, or T+0) until its condition holds: met when ≤ ``within`` (already scaled),
  missed when later or never (measured up to the end of the record), not measured when its start
  never happened (the day aborted before that phase).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chaosrunner.analyse.resolution import achieved
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import Sample
from chaosrunner.units import format_duration


class ConditionLike(Protocol):
    """What a condition says (``gameday.model.Condition``): read-only, so frozen models fit."""

    @property
    def probe(self) -> str | None: ...
    @property
    def state(self) -> str | None: ...
    @property
    def changed(self) -> bool | None: ...
    @property
    def equals(self) -> str | float | None: ...
    @property
    def steady(self) -> bool | None: ...
    @property
    def probes(self) -> list[str] | None: ...

    def text(self) -> str: ...


def value_of(s: Sample) -> Any:
    return s.role if s.role is not None else s.value


def baseline_at(samples: Sequence[Sample], probe: str | None, t: float) -> Any:
    """The probe's value at ``t``: its last ok sample before ``t`` (else its first ok one)."""
    return _baseline([s for s in samples if s.probe == probe], t)


def _baseline(samples: Sequence[Sample], start: float) -> Any:
    before = [s for s in samples if s.start < start and s.ok]
    if before:
        return value_of(before[-1])
    after = [s for s in samples if s.ok]
    return value_of(after[0]) if after else None


def first_time(samples: Sequence[Sample], cond: ConditionLike, start: float, *, probes: Sequence[str],
               stable_for: float, baseline: Any = None) -> tuple[float | None, str]:
    """When ``cond`` first holds at or after ``start`` (None: not in these samples), and a note."""
    at, note, _ = _first(samples, cond, start, probes=probes, stable_for=stable_for, baseline=baseline)
    return at, note


def _first(samples: Sequence[Sample], cond: ConditionLike, start: float, *, probes: Sequence[str],
           stable_for: float, baseline: Any = None) -> tuple[float | None, str, float | None]:
    """``first_time`` and the resolution that instant achieved (None: none to read from the samples)."""
    if cond.steady:
        return _steady_at(samples, start, cond.probes or probes, stable_for)
    own = sorted((s for s in samples if s.probe == cond.probe), key=lambda s: s.start)
    if cond.changed is not None and baseline is None:
        baseline = _baseline(own, start)
    for s in own:
        if s.start < start:
            continue
        # the probe's previous sample did not meet the condition (else it would have been found),
        # and the start bounds it too (s.start >= start: there is always a bound)
        resolution = achieved(s.start, (x.start for x in own), floor=start, default=s.start - start)
        if cond.state is not None and s.ok == (cond.state == "ok"):
            return s.start, "", resolution
        if cond.equals is not None and s.ok and str(value_of(s)) == cond.equals:
            return s.start, "", resolution
        if cond.changed is not None and s.ok and value_of(s) is not None and value_of(s) != baseline:
            return s.start, f"{baseline} → {value_of(s)}", resolution
    return None, "", None


def _steady_at(samples: Sequence[Sample], start: float, probes: Sequence[str],
               stable_for: float) -> tuple[float | None, str, float | None]:
    mine = sorted((s for s in samples if s.probe in probes and s.start >= start), key=lambda s: s.start)
    failed = [s.start for s in mine if not s.ok]
    if not failed:
        return start, "the steady state never left", 0.0
    after = [s for s in mine if s.start > failed[0]]
    last_fail = failed[0]
    window_start: float | None = None
    for s in after:
        if not s.ok:
            last_fail, window_start = s.start, None
            continue
        if window_start is None and s.start > last_fail:    # a window starts after the last failure
            window_start = s.start
        if window_start is None:
            continue
        seen = {x.probe for x in after if window_start <= x.start <= s.start}
        if s.start - window_start >= stable_for and seen >= set(probes):
            # the window began between the last failed sample and its own first sample
            return s.start, "", window_start - last_fail
    return None, "", None


@dataclass(frozen=True)
class TimingResult:
    name: str
    within: float
    from_: str
    until: str
    start: float | None
    at: float | None
    measured: float | None
    status: Status
    note: str = ""
    resolution: float | None = None     # achieved, read from the samples (None: not measured, or none to read)

    def verdict(self, default_resolution: float) -> Verdict:
        """The timing's verdict; ± its achieved resolution, else ``default_resolution`` (the interval)."""
        resolution = self.resolution if self.resolution is not None else default_resolution
        expected = f"≤ {format_duration(self.within)} from {self.from_} until {self.until}"
        if self.measured is not None:
            measured = f"{format_duration(round(self.measured, 3))} ± {format_duration(resolution)}"
        elif self.start is None:
            measured = "not measured"
        else:
            measured = "never"
        return Verdict(f"expected {self.name}", self.status, expected, measured, self.note,
                       value=self.measured, precision=resolution, kind="objective",
                       data={"from": self.from_, "start": self.start, "at": self.at})


def measure_timing(name: str, within: float, from_: str, cond: ConditionLike, start: float | None,
                   samples: Sequence[Sample], *, probes: Sequence[str], stable_for: float,
                   end: float) -> TimingResult:
    if start is None:
        return TimingResult(name, within, from_, cond.text(), None, None, None, Status.UNKNOWN,
                            f"{from_} never started (the day ended before it)")
    at, note, resolution = _first(samples, cond, start, probes=probes, stable_for=stable_for)
    if at is None:
        return TimingResult(name, within, from_, cond.text(), start, None, None, Status.FAILED,
                            f"{cond.text()} never held in the {format_duration(round(end - start, 1))} observed")
    took = max(0.0, at - start)
    return TimingResult(name, within, from_, cond.text(), start, at, took,
                        Status.PASSED if took <= within else Status.FAILED, note, resolution)


def holds_now(samples: Sequence[Sample], cond: ConditionLike, *, probes: Sequence[str], stable_for: float,
              now: float, t0: float = 0.0, baseline: Any = None) -> tuple[bool | None, str]:
    """Whether ``cond`` holds on the latest sample(s) at ``now`` (None: no sample to judge).
    ``baseline``: the probe's value at ``t0`` when known (else read from the samples before ``t0``)."""
    if cond.steady:
        latest = [_last(samples, p, now) for p in (cond.probes or probes)]
        if any(s is None for s in latest):
            return None, "a probe has no sample yet"
        bad = [s.probe for s in latest if s is not None and not s.ok]
        return not bad, ("failing: " + ", ".join(bad)) if bad else "every probe ok"
    s = _last(samples, str(cond.probe), now)
    if s is None:
        return None, f"{cond.probe} has no sample yet"
    if cond.state is not None:
        return s.ok == (cond.state == "ok"), f"{cond.probe} {'ok' if s.ok else 'failing'}" + (
            f" ({s.error})" if s.error else "")
    if cond.equals is not None:
        return s.ok and str(value_of(s)) == cond.equals, f"{cond.probe} = {value_of(s)}"
    base = baseline if baseline is not None else baseline_at(samples, cond.probe, t0)
    return s.ok and value_of(s) != base, f"{cond.probe}: {base} → {value_of(s)}"


def _last(samples: Sequence[Sample], probe: str, now: float) -> Sample | None:
    found = None
    for s in samples:
        if s.probe == probe and s.end <= now and (found is None or s.start >= found.start):
            found = s
    return found


@dataclass(frozen=True)
class _Equals:
    probe: str
    equals: str
    state: str | None = None
    changed: bool | None = None
    steady: bool | None = None
    probes: list[str] | None = None

    def text(self) -> str:
        return f"{self.probe} = {self.equals}"


def failback_verdict(samples: Sequence[Sample], probe: str, to: str, within: float, restored: float | None,
                     resolution: float) -> Verdict:
    """The role back on the preferred node within ``within`` of the last revert (the restore); ± the
    resolution the instant achieved (as an expected timing's), else ``resolution``."""
    expected = f"{probe} back on {to} ≤ {format_duration(within)} after the restore"
    if restored is None:
        return Verdict("automatic failback", Status.UNKNOWN, expected, "not measured", "no fault was reverted",
                       kind="objective")

    at, _, achieved_resolution = _first(samples, _Equals(probe, to), restored, probes=[probe], stable_for=0.0)
    if achieved_resolution is not None:
        resolution = achieved_resolution
    if at is None:
        return Verdict("automatic failback", Status.FAILED, expected, "never",
                       f"{probe} never showed {to} after the restore", kind="objective", precision=resolution)
    took = at - restored
    return Verdict("automatic failback", Status.PASSED if took <= within else Status.FAILED, expected,
                   f"{format_duration(round(took, 3))} ± {format_duration(resolution)}", value=took,
                   precision=resolution, kind="objective")


def role_changes(samples: Sequence[Sample]) -> list[tuple[float, str, Any, Any]]:
    """Every change of a role probe's answer: (t, probe, before, after), failed samples skipped."""
    last: dict[str, Any] = {}
    out: list[tuple[float, str, Any, Any]] = []
    for s in sorted((s for s in samples if s.role is not None and s.ok), key=lambda s: s.start):
        if s.probe in last and last[s.probe] != s.role:
            out.append((s.start, s.probe, last[s.probe], s.role))
        last[s.probe] = s.role
    return out


def judge_value(values: Sequence[tuple[str, float]], *, below: float | None = None, above: float | None = None,
                equals: float | None = None) -> tuple[bool, str]:
    """A PromQL check: every series' value (``(series, value)``) below / above / equal to the bound."""
    if not values:
        return False, "the query returned no series"

    def holds(v: float) -> bool:
        if equals is not None:
            return v == equals
        return (below is None or v < below) and (above is None or v > above)

    bad = [(s, v) for s, v in values if not holds(v)]
    shown = ", ".join(f"{s}={v:g}" for s, v in (bad or values)[:5])
    more = len(bad or values) - 5
    shown += f" (+{more} more)" if more > 0 else ""
    if bad:
        return False, f"{len(bad)} of {len(values)} series out of bounds: {shown}"
    return True, shown


def judge_writes(result: Any, *, rpo: float | None = None, lost_writes: int | None = None) -> tuple[bool, str]:
    """An "RPO so far" / "lost writes so far" check over an ``analyse.integrity.IntegrityResult`` of the
    writes acknowledged so far, read back now. No acknowledged write yet: not measured (failed)."""
    if result.acknowledged == 0:
        return False, "not measured: no write acknowledged yet"
    res = f" ± {format_duration(result.resolution)}" if result.resolution else ""
    text = (f"{result.lost} of {result.acknowledged} acknowledged writes lost so far, {result.corrupted} corrupted; "
            f"RPO so far {format_duration(round(result.rpo, 3))}{res}")
    if not result.read_back:
        return False, f"not measured: the store did not answer the read-back ({result.note})"
    if rpo is not None:
        return result.rpo <= rpo + 1e-9, text
    return result.lost <= (lost_writes or 0), text
