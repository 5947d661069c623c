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


def rollback_verdict(tl: Timeline) -> Verdict | None:
    """The rollbacks undid what the method did: every rollback step (an action, or a probe that
    checks the undoing, such as a switchover back to the original primary) succeeded. ``None``
    when the experiment has no rollback steps."""
    steps = tl.events_of(EventKind.ROLLBACK)
    if not steps:
        return None
    failed = [e for e in steps if not e.data.get("ok")]
    name, expected = "rollbacks", "every rollback step ok"
    if failed:
        return Verdict(name, Status.FAILED, expected, f"{len(failed)} of {len(steps)} failed",
                       "; ".join(f"{e.data.get('name')}: {e.data.get('error') or 'failed'}" for e in failed),
                       kind="rollback")
    return Verdict(name, Status.PASSED, expected, f"{len(steps)} ok", kind="rollback")
