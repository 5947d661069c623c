"""Read a game day's part of a run record into the report's post-incident sections (pure; no I/O).

Phases and their steps, success criteria, action items, roles, and one timeline merging the
steps, the fault events, role changes, the moments each expected timing's condition held and the
team's notes (seed §15.1's template), in T+ offsets from the game day's T+0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaosrunner.analyse.gameday import role_changes
from chaosrunner.analyse.verdict import Status
from chaosrunner.report._view import VERDICT_MARK, clip, clock, duration_text, when_text
from chaosrunner.results import RunRecord
from chaosrunner.timeline import EventKind, Timeline

# a game-day step's outcome as the runbook records it (not a RunStatus: steps are done, confirmed, timed out...)
STEP_MARK = {"ok": "✓", "passed": "✓", "done": "✓", "confirmed": "✓", "failed": "✗", "timeout": "✗", "skipped": "–"}


@dataclass
class GameDayView:
    phases: list[dict[str, Any]] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    action_items: list[dict[str, Any]] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)
    timeline: list[tuple[str, str]] = field(default_factory=list)


def t_zero(tl: Timeline) -> float:
    """T+0 of a game day: the start of its first phase run (its ``t0`` note), else the run's start."""
    return next((float(e.data.get("origin", e.t)) for e in tl.events_of(EventKind.NOTE) if e.data.get("t0")), 0.0)


def _t(value: Any, t0: float = 0.0) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return clock(float(value) - t0)
    return when_text(value) if isinstance(value, str) and "T" in value else clip(value or "—", 80)


def _criterion_mark(status: str) -> str:
    try:
        return VERDICT_MARK[Status(status)]
    except ValueError:
        return "·"


def timing_lines(record: RunRecord) -> list[tuple[float, str]]:
    """The moments the review's timeline adds to the events: role changes, and when each expected
    timing's condition held (detection, failover, ...)."""
    out = [(t, f"role change: {probe} {before} → {after}") for t, probe, before, after
           in role_changes(record.timeline.samples)]
    for v in record.verdicts:
        at = v.data.get("at") if v.name.startswith("expected ") else None
        if isinstance(at, (int, float)):
            out.append((float(at), f"{v.name.removeprefix('expected ')}: {v.measured} ({v.status.value})"))
    return out


def gameday_of(record: RunRecord, tl: Timeline) -> GameDayView | None:
    gd = record.gameday
    if gd is None:
        return None
    view = GameDayView()
    t0 = t_zero(tl)
    lines: list[tuple[float, str, str]] = []
    for ph in gd.phases:
        steps = []
        for st in ph.steps:
            steps.append({"kind": st.kind, "name": clip(st.name), "status": st.status,
                          "mark": STEP_MARK.get(st.status, "·"), "t": _t(st.t, t0), "took": duration_text(st.took),
                          "detail": clip(st.detail)})
            if isinstance(st.t, (int, float)):
                lines.append((float(st.t), f"{st.kind or 'step'}: {clip(st.name, 120)}", st.status))
        view.phases.append({"name": clip(ph.name), "started": _t(ph.started, t0), "ended": _t(ph.ended, t0),
                            "steps": steps})
    for c in gd.criteria:
        if isinstance(c, str):
            view.criteria.append({"name": clip(c), "expected": "", "measured": "", "status": "", "mark": "·",
                                  "bad": False})
        else:
            view.criteria.append({"name": clip(c.name), "expected": clip(c.expected), "measured": clip(c.measured),
                                  "status": c.status, "mark": _criterion_mark(c.status),
                                  "bad": c.status == Status.FAILED})
    for item in gd.action_items:
        if isinstance(item, str):
            view.action_items.append({"text": clip(item), "owner": "", "done": False})
        else:
            view.action_items.append({"text": clip(item.text), "owner": clip(item.owner, 80), "done": item.done})
    view.roles = [(k, clip(", ".join(v) if isinstance(v, list) else v, 200)) for k, v in gd.roles.items()]
    for e in tl.events_of(EventKind.FAULT_INJECTED, EventKind.FAULT_REVERTED, EventKind.ABORT, EventKind.PHASE_STARTED):
        d = e.data
        text = {EventKind.FAULT_INJECTED: f"fault injected: {d.get('type', '')} on {d.get('target', '')}",
                EventKind.FAULT_REVERTED: f"fault reverted: {d.get('type', '')} on {d.get('target', '')}",
                EventKind.ABORT: f"aborted: {d.get('reason', '')}",
                EventKind.PHASE_STARTED: f"phase {d.get('phase', '')} started"}[e.kind]
        lines.append((e.t, clip(text, 160), ""))
    lines += [(t, clip(text, 160), "") for t, text in timing_lines(record)]
    for n in record.notes:
        if n.t is not None:
            lines.append((n.t, f"note ({clip(n.author or 'team', 40)}): {clip(n.text, 160)}", ""))
    lines.sort(key=lambda x: x[0])
    view.timeline = [(clock(t - t0), text + (f" — {status}" if status else "")) for t, text, status in lines]
    return view
