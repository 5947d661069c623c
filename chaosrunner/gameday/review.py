"""``review.md``: the game day's post-incident review as clean CommonMark (seed §15.1), for the
team's incident tracker — summary, timeline (T+ offsets), expected vs measured, the success
criteria checklist, observations, action items, and the empty headings the team fills in."""
from __future__ import annotations

from pathlib import Path

from chaosrunner.report._gameday import timing_lines
from chaosrunner.results import RunRecord
from chaosrunner.timeline import EventKind


def _offset(t: float | None, t0: float) -> str:
    if t is None:
        return "T?"
    d = t - t0
    sign = "-" if d < 0 else "+"
    d = abs(d)
    return f"T{sign}{int(d // 60)}:{d % 60:05.2f}"


def _md(text: object) -> str:
    """One line of plain text, safe in Markdown (no markup, no line breaks, no table pipes)."""
    s = " ".join(str(text).split())
    for ch in "\\`*_[]<>|#":
        s = s.replace(ch, "\\" + ch)
    return s


def review_markdown(record: RunRecord, t0: float | None = None) -> str:
    """The review; times as T+ offsets from ``t0`` (default: the day's T+0, from its timeline)."""
    if t0 is None:
        t0 = next((float(e.data.get("origin", e.t)) for e in record.timeline.events
                   if e.kind is EventKind.NOTE and e.data.get("t0")), 0.0)
    gd = record.gameday
    exp = record.experiment
    lines = [f"# Game day review: {_md(exp.name)}", ""]
    lines += ["## Summary", "",
              f"- **Game day ID**: {_md(record.run_id)}",
              f"- **Date/Time**: {record.started:%Y-%m-%d %H:%M UTC}" if record.started else "- **Date/Time**: —",
              f"- **Duration**: {record.duration_s or 0:.0f}s",
              f"- **Verdict**: {record.status.value} (exit {record.exit_code})"]
    if exp.description:
        lines.append(f"- **Scenario**: {_md(exp.description)}")
    if record.abort_reason:
        lines.append(f"- **Aborted**: {_md(record.abort_reason)}")
    integ = record.measurements.integrity
    slo = (record.measurements.slo or {}).get("fault")
    impact = []
    if slo is not None and slo.requests:
        impact.append(f"{slo.failures or 0} of {slo.requests} requests failed during the faults")
    if integ is not None and integ.lost is not None:
        impact.append(f"{integ.lost} acknowledged writes lost")
    outs = [w.out_of_slo for w in record.measurements.windows if w.out_of_slo is not None]
    if outs:                           # seconds with at least one steady-state probe failing, per fault window
        impact.append(f"{sum(outs):.1f}s out of SLO (a steady-state probe failing)")
    lines.append(f"- **Impact**: {_md('; '.join(impact)) if impact else 'not measured (no load, no writer)'}")
    for role, who in (gd.roles.items() if gd else []):
        lines.append(f"- **{_md(role.capitalize())}**: {_md(', '.join(who) if isinstance(who, list) else who)}")
    lines += ["", "## Timeline", ""]
    items: list[tuple[float, str]] = []
    for e in record.timeline.events:
        d = e.data
        if e.kind is EventKind.FAULT_INJECTED:
            items.append((e.t, f"fault injected: {d.get('type')} on {d.get('target')}"))
        elif e.kind is EventKind.FAULT_REVERTED:
            items.append((e.t, f"fault reverted: {d.get('type')} on {d.get('target')} ({d.get('by')})"))
        elif e.kind is EventKind.PHASE_STARTED and d.get("gameday"):
            items.append((e.t, f"phase {d.get('phase')} started"))
        elif e.kind is EventKind.ABORT:
            items.append((e.t, f"aborted: {d.get('reason')}"))
        elif e.kind is EventKind.STEP_ENDED and d.get("gameday") and d.get("kind") == "wait_until":
            items.append((e.t, f"{d.get('step')}: {d.get('status')} ({d.get('detail')})"))
    for n in record.notes:
        items.append((n.t or 0.0, f"note ({n.author}): {n.text}"))
    items += timing_lines(record)
    items.sort(key=lambda x: x[0])
    lines += [f"- {_offset(t, t0)}: {_md(text)}" for t, text in items] or ["- nothing recorded"]
    crit = gd.criteria if gd else []
    lines += ["", "## Expected vs measured", "", "| | expected | measured | result |", "|---|---|---|---|"]
    for c in crit:
        if not isinstance(c, str) and c.name.startswith("expected "):
            lines.append(f"| {_md(c.name.removeprefix('expected '))} | {_md(c.expected)} | {_md(c.measured)} | "
                         f"{_md(c.status)} |")
    lines += ["", "## Success criteria", ""]
    for c in crit:
        if not isinstance(c, str) and not c.name.startswith("expected "):
            mark = "x" if c.status == "passed" else " "
            lines.append(f"- [{mark}] {_md(c.name)}: {_md(c.status)} (expected {_md(c.expected)}; measured "
                         f"{_md(c.measured)})")
    lines += ["", "## Phases", ""]
    for ph in (gd.phases if gd else []):
        lines.append(f"### {_md(ph.name)}")
        lines.append("")
        for st in ph.steps:
            t = st.t if isinstance(st.t, (int, float)) else None
            lines.append(f"- {_offset(t, t0)} {_md(st.kind)}: {_md(st.name)}: **{_md(st.status or '—')}**"
                         + (f" ({_md(st.detail[:300])})" if st.detail else ""))
        lines.append("")
    lines += ["## Observations", ""]
    lines += [f"- {_offset(n.t, t0)} {_md(n.author or 'team')}: {_md(n.text)}" for n in record.notes] or ["- none"]
    lines += ["", "## Action items", ""]
    acts = gd.action_items if gd else []
    lines += [f"{i}. [ ] {_md(a if isinstance(a, str) else a.text)}" for i, a in enumerate(acts, 1)] or ["- none"]
    lines += ["", "## What happened", "", "## Why it happened", "", "## Lessons learned", ""]
    return "\n".join(lines)


def write_review(record: RunRecord, run_dir: Path, t0: float | None = None) -> Path:
    path = Path(run_dir) / "review.md"
    path.write_text(review_markdown(record, t0), encoding="utf-8")
    return path
