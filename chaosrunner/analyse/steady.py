"""Verdicts on the steady-state hypothesis: before, after, and during the faults (pure functions)."""
from __future__ import annotations

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import EventKind, Timeline, fault_windows


def _steady_event(tl: Timeline, phase: str) -> dict | None:
    for ev in tl.events_of(EventKind.STEADY_STATE):
        if ev.data.get("phase") == phase:
            return ev.data
    return None


def steady_state_verdicts(tl: Timeline, probe_names: list[str]) -> list[Verdict]:
    if not probe_names:
        return [Verdict("steady state", Status.UNKNOWN, "probes ok", "no steady-state probe defined",
                        "the experiment defines no steady_state, so there is nothing to judge")]
    out = []
    for phase in ("before", "after"):
        data = _steady_event(tl, phase)
        name = f"steady state {phase}"
        if data is None:
            out.append(Verdict(name, Status.SKIPPED, "every probe ok", "not checked",
                               "the run ended before this check" if phase == "after" else ""))
            continue
        failed = [p for p, ok in data.get("probes", {}).items() if not ok]
        errors = data.get("errors", {})
        out.append(Verdict(
            name, Status.FAILED if failed else Status.PASSED, "every probe ok",
            "all ok" if not failed else f"{len(failed)} of {len(data.get('probes', {}))} failing",
            "; ".join(f"{p}: {errors.get(p) or 'failed'}" for p in failed)))
    return out


def held_during_faults(tl: Timeline, probe_names: list[str]) -> Verdict:
    """Without an RTO objective the hypothesis is that the steady state never deviates."""
    windows = fault_windows(tl.events)
    name = "steady state held during faults"
    if not probe_names:
        return Verdict(name, Status.UNKNOWN, "every sample ok", "no probes")
    if not windows:
        return Verdict(name, Status.UNKNOWN, "every sample ok", "no fault was injected")
    end_of_run = max([s.end for s in tl.samples] + [0.0])
    failed = [s for s in tl.samples
              if not s.ok and any(s.start >= w.start and s.start <= (w.end if w.end is not None else end_of_run)
                                  for w in windows)]
    total = [s for s in tl.samples
             if any(s.start >= w.start and s.start <= (w.end if w.end is not None else end_of_run) for w in windows)]
    if failed:
        first = failed[0]
        return Verdict(name, Status.FAILED, "every sample ok",
                       f"{len(failed)} of {len(total)} samples failed",
                       f"first at +{first.start - windows[0].start:.2f}s after the fault, {first.probe}: {first.error}")
    return Verdict(name, Status.PASSED, "every sample ok", f"{len(total)} samples ok")


def detection_and_recovery(tl: Timeline, probe_names: list[str], t0: float, stable_for: float,
                           until: float | None = None) -> tuple[float | None, float]:
    """(detection time, recovery time) after ``t0``, by the definitions in DESIGN.md.

    Detection = first failed sample after t0, minus t0 (None: no deviation).
    Recovery = start of the first ``stable_for`` window after t0 in which every probe is sampled
    and every sample is ok, minus t0; 0 with no deviation; ``inf`` when never recovered within
    the observed samples (the window must be fully observed to count).
    """
    samples = sorted((s for s in tl.samples if s.probe in probe_names and s.start >= t0
                      and (until is None or s.start <= until)), key=lambda s: s.start)
    failed = [s for s in samples if not s.ok]
    if not failed:
        return None, 0.0
    detection = failed[0].start - t0
    last_seen = samples[-1].start
    for c in (s.start for s in samples if s.ok and s.start > failed[0].start):
        if c + stable_for > last_seen:
            break
        window = [s for s in samples if c <= s.start <= c + stable_for]
        if all(s.ok for s in window) and {s.probe for s in window} >= set(probe_names):
            return detection, c - t0
    return detection, float("inf")


def rto_verdict(tl: Timeline, probe_names: list[str], rto: float, interval: float, stable_for: float) -> Verdict:
    """The hypothesis with an RTO objective: the steady state comes back within ``rto`` of each fault."""
    from chaosrunner.units import format_duration

    windows = fault_windows(tl.events)
    if not windows:
        return Verdict("rto", Status.UNKNOWN, f"≤ {format_duration(rto)}", "no fault was injected", kind="objective")
    worst, detail = 0.0, []
    for w in windows:
        nxt = windows[w.index + 1].start if w.index + 1 < len(windows) else None
        detection, recovery = detection_and_recovery(tl, probe_names, w.start, stable_for, nxt)
        worst = max(worst, recovery)
        detail.append(f"window {w.index + 1} ({', '.join(w.targets)}): detection "
                      f"{format_duration(detection) if detection is not None else 'none'}, recovery "
                      f"{format_duration(recovery) if recovery != float('inf') else 'never'}")
    measured = "never recovered" if worst == float("inf") else f"{format_duration(worst)} ± {format_duration(interval)}"
    status = Status.PASSED if worst <= rto else Status.FAILED
    return Verdict("rto", status, f"≤ {format_duration(rto)}", measured, "; ".join(detail), value=worst,
                   precision=interval, kind="objective")
