"""Read a run.json document into what the report, the summary and JUnit show (pure; no I/O).

Every optional part of the document may be missing or null (a run without load, without a
writer, aborted before any fault, written by an older version): each reader here returns an
empty value then, never raises.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, UTC
from typing import Any

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import EventKind, Timeline, fault_windows
from chaosrunner.units import format_duration

STATUS_TEXT = {
    "held": ("✓", "held"),
    "failed": ("✗", "failed"),
    "aborted": ("!", "aborted"),
    "inconclusive": ("?", "inconclusive"),
    "revert_failed": ("✗", "fault not reverted"),
}
VERDICT_MARK = {"passed": "✓", "failed": "✗", "unknown": "?", "skipped": "–"}
MAX_EVENT_ROWS = 2000
_WINDOW_ALIASES = (("index", "window"), ("start", "t0"), ("end", "reverted_at"), ("detection", "detection_time"),
                   ("recovery", "recovery_time"), ("failover", "failover_time"))
MAX_TEXT = 400


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def clock(t: float | None) -> str:
    """Run-clock seconds as ``T+h:mm:ss.ss`` (the column format of every table)."""
    if t is None or not math.isfinite(t):
        return "—"
    sign = "-" if t < 0 else "+"
    t = abs(t)
    hours, rest = divmod(t, 3600)
    minutes, secs = divmod(rest, 60)
    return f"T{sign}{int(hours)}:{int(minutes):02d}:{secs:05.2f}"


def wall_text(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def when_text(iso: str | None) -> str:
    """``2026-11-26T20:15:00.123Z`` → ``2026-11-26 20:15:00 UTC``."""
    if not iso:
        return "—"
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def verdicts_of(run: dict[str, Any]) -> list[Verdict]:
    names = {f.name for f in fields(Verdict)}
    out = []
    for d in run.get("verdicts") or []:
        d = {k: v for k, v in d.items() if k in names}
        try:
            out.append(Verdict.from_dict(d))
        except (TypeError, ValueError):
            out.append(Verdict(str(d.get("name", "?")), Status.UNKNOWN, str(d.get("expected", "")),
                               str(d.get("measured", "")), "unreadable verdict in run.json"))
    return out


def timeline_of(run: dict[str, Any]) -> Timeline:
    return Timeline.from_dict(run.get("timeline") or {})


def run_span(tl: Timeline, run: dict[str, Any]) -> float:
    """The run's length on its own clock: the latest thing recorded (never zero)."""
    ends = [e.t for e in tl.events[-5:]] + [s.end for s in tl.samples[-50:]]
    ends += [s.t for s in tl.load_stats[-50:]] + [w.ack or w.sent for w in tl.writes[-50:]]
    ends.append(float(run.get("duration_s") or 0.0))
    return max(ends + [1.0])


def windows_of(run: dict[str, Any], tl: Timeline) -> list[dict[str, Any]]:
    """Fault windows with their measurements (from ``measurements.windows``, else from the events)."""
    measured = ((run.get("measurements") or {}).get("windows")) or []
    from_events = fault_windows(tl.events)
    if measured:
        out = []
        for i, w in enumerate(measured):
            w = dict(w)
            for key, alias in _WINDOW_ALIASES:  # analyse.recovery's own names for the same figures
                if w.get(key) is None and w.get(alias) is not None:
                    w[key] = w[alias]
            w.setdefault("index", i)
            if not w.get("targets"):
                same = [fw for fw in from_events if w.get("start") is not None and abs(fw.start - w["start"]) < 1e-6]
                w["targets"] = list(same[0].targets) if same else []
            if w.get("recovery") is None and "recovered" not in w and w.get("detection") is not None:
                w["recovered"] = False
            out.append(w)
        return out
    return [{"index": w.index, "start": w.start, "end": w.end, "targets": list(w.targets),
             "fault_ids": list(w.fault_ids)} for w in from_events]


def instants_of(windows: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """(kind, run-clock time, window index) of every detection, recovery and failover."""
    out = []
    for w in windows:
        start = w.get("start")
        if start is None:
            continue
        for kind in ("detection", "recovery", "failover"):
            v = w.get(kind)
            if v is None or (kind == "recovery" and w.get("recovered") is False) or not math.isfinite(float(v)):
                continue
            if kind == "recovery" and (w.get("detected") is False or w.get("detection") is None):
                continue      # nothing deviated, so nothing recovered: no line at t0
            out.append((kind, float(start) + float(v), int(w.get("index", 0))))
    return out


def _event_summary(data: dict[str, Any]) -> str:
    parts = []
    for k, v in data.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str, ensure_ascii=False)
        parts.append(f"{k}={v}")
    return clip(", ".join(parts))


def event_rows(tl: Timeline) -> list[dict[str, Any]]:
    return [{"t": clock(e.t), "wall": wall_text(e.wall), "kind": e.kind.value.replace("_", " "),
             "text": _event_summary(e.data), "bad": _event_is_bad(e.kind, e.data)}
            for e in tl.events[:MAX_EVENT_ROWS]]


def _event_is_bad(kind: EventKind, data: dict[str, Any]) -> bool:
    if kind in (EventKind.ABORT, EventKind.ERROR, EventKind.FAULT_REVERT_FAILED, EventKind.PROBE_ERROR):
        return True
    return data.get("ok") is False


def deviations(tl: Timeline, limit: int = 50) -> list[dict[str, Any]]:
    """Failing samples grouped by probe and error, most frequent first."""
    groups: dict[tuple[str, str], list[float]] = {}
    for s in tl.samples:
        if s.ok:
            continue
        why = s.error if s.error else f"value {clip(s.value, 120)} outside the expected range"
        key = (s.probe, clip(why))
        g = groups.get(key)
        if g is None:
            groups[key] = [1, s.start, s.start]
        else:
            g[0] += 1
            g[2] = s.start
    rows: list[dict[str, Any]] = [{"probe": p, "error": e, "count": int(c), "first": clock(a), "last": clock(b)}
            for (p, e), (c, a, b) in groups.items()]
    rows.sort(key=lambda r: -r["count"])
    return rows[:limit]


def probe_errors(tl: Timeline) -> list[dict[str, Any]]:
    kinds = (EventKind.PROBE_ERROR, EventKind.ERROR, EventKind.ABORT)
    return [{"t": clock(e.t), "kind": e.kind.value.replace("_", " "),
             "text": clip(e.data.get("error") or e.data.get("reason") or _event_summary(e.data))}
            for e in tl.events_of(*kinds)]


def rollback_rows(tl: Timeline) -> list[dict[str, Any]]:
    rows = []
    for e in tl.events_of(EventKind.ROLLBACK, EventKind.FAULT_REVERTED, EventKind.FAULT_REVERT_FAILED):
        d = e.data
        if e.kind is EventKind.ROLLBACK:
            ok = d.get("ok", True) is not False
            what = f"rollback {d.get('name', '')}".strip()
        elif e.kind is EventKind.FAULT_REVERTED:
            ok = True
            what = f"revert {d.get('type', 'fault')} on {d.get('target', '?')} (by {d.get('by', 'revert')})"
        else:
            ok = False
            what = f"revert {d.get('type', 'fault')} on {d.get('target', '?')}"
        rows.append({"t": clock(e.t), "what": what, "ok": ok, "error": clip(d.get("error") or "")})
    return rows


def _is_seconds(v: Verdict) -> bool:
    key = v.name.lower()
    return any(w in key for w in ("rto", "rpo", "failover", "recovery", "detection", "time"))


def precision_text(v: Verdict) -> str:
    if v.precision is None:
        return "—"
    if v.kind == "slo":
        return f"±{format_duration(v.precision)} window edges"
    return "±" + (format_duration(v.precision) if _is_seconds(v) else f"{v.precision:g}")


def objective_rows(run: dict[str, Any], verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Every verdict, then each declared objective that no verdict judged."""
    rows = [{"name": v.name, "kind": v.kind, "status": v.status.value, "mark": VERDICT_MARK[v.status.value],
             "expected": v.expected, "measured": v.measured, "precision": precision_text(v),
             "detail": clip(v.detail)} for v in verdicts]
    declared = ((run.get("experiment") or {}).get("objectives")) or {}
    judged = {v.name.lower().split()[0] for v in verdicts if v.name}
    for key, value in declared.items():
        if value is None or key in judged:
            continue
        if isinstance(value, dict):
            expected = ", ".join(f"{k} {_fmt_objective(v)}" for k, v in value.items() if v is not None)
        else:
            expected = "≤ " + _fmt_objective(value)
        rows.append({"name": key, "kind": "objective", "status": "skipped", "mark": "–", "expected": expected,
                     "measured": "not measured", "precision": "—", "detail": "no verdict was recorded for it"})
    return rows


def _fmt_objective(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(float(value))
    return str(value)


def _pm_text(value: Any, pm: str) -> str:
    return "—" if value is None else duration_text(float(value)) + pm


def window_rows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for w in windows:
        res = w.get("resolution")
        pm = f" ±{format_duration(res)}" if res else ""
        rec = w.get("recovery")
        if w.get("measured") is False:
            rec_text = "not measured"
        elif w.get("recovered") is False or (rec is None and w.get("detection") is not None):
            rec_text = "not recovered"
        else:
            rec_text = _pm_text(rec, pm)
        out_of_slo = w.get("out_of_slo")
        deviations, relapses = w.get("deviations"), w.get("relapses")
        if deviations is None:
            dev_text = "—"
        else:
            dev_text = str(deviations) + (" (flapping)" if deviations > 1 else "")
        failover = w.get("failover_result") or {}
        failback = failover.get("failback_time")
        if not failover:
            failback_text = "—"
        elif failback is None:
            failback_text = "not failed back" if failover.get("failover_at") is not None else "—"
        else:
            failback_text = _pm_text(failback, pm)
        if w.get("failover") is None and failover and not failover.get("failed_over"):
            failover_text = "not needed" if failover.get("deviated") is False else "no failover"
        elif w.get("failover") is None and failover and failover.get("measured") is not False:
            failover_text = "never completed"
        else:
            failover_text = _pm_text(w.get("failover"), pm)
        rows.append({"index": int(w.get("index", 0)) + 1, "start": clock(w.get("start")), "end": clock(w.get("end")),
                     "targets": ", ".join(str(t) for t in w.get("targets") or []) or "—",
                     "detection": _pm_text(w.get("detection"), pm) if w.get("detection") is not None else (
                         "no deviation" if w.get("detected") is False else "—"),
                     "recovery": rec_text,
                     "out_of_slo": duration_text(out_of_slo) if out_of_slo is not None else "—",
                     "deviations": dev_text,
                     "relapses": "—" if relapses is None else str(relapses),
                     "failover": failover_text, "failback": failback_text,
                     "bad": rec_text == "not recovered" or bool(relapses)})
    return rows


def integrity_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The writer's figures, formatted: durations with their ± precision, instants on the run clock."""
    integ = ((run.get("measurements") or {}).get("integrity"))
    if not integ:
        return []
    res = integ.get("resolution")
    pm = f" ± {format_duration(float(res))}" if isinstance(res, (int, float)) and res else ""
    rpo = integ.get("rpo")
    rows = [("RPO measured", "—" if rpo is None else duration_text(float(rpo)) + pm)]
    for key, label in (("writes", "writes issued"), ("acknowledged", "acknowledged"),
                       ("lost", "lost (acknowledged, then missing or altered)"), ("corrupted", "corrupted"),
                       ("duplicated", "duplicated"), ("unacknowledged_present", "not acknowledged but present")):
        if integ.get(key) is not None:
            rows.append((label, str(integ[key])))
    lw = integ.get("loss_window")
    if lw:
        rows.append(("loss window", f"{clock(lw[0])} – {clock(lw[1])}"))
    if integ.get("last_surviving_before_loss") is not None:
        rows.append(("RPO measured from", clock(float(integ["last_surviving_before_loss"]))))
    if isinstance(res, (int, float)) and res:
        rows.append(("resolution (one write interval)", format_duration(float(res))))
    if integ.get("read_back") is False:
        rows.append(("read back", "no"))
    if integ.get("note"):
        rows.append(("note", clip(integ["note"])))
    return rows


def _fmt_metric(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return clip(v, 60)
    k = key.lower()
    if "error" in k or "rate" == k or k.endswith("_fraction"):
        return f"{v * 100:.2f}%"
    if k.startswith("p") and k[1:].isdigit() or "latency" in k or k in ("avg", "max", "min"):
        return f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"
    if "rps" in k:
        return f"{v:.1f}/s"
    return f"{v:g}"


def slo_table(run: dict[str, Any]) -> dict[str, Any] | None:
    """{"phases": [...], "rows": [(metric, [cell, ...]), ...]} from measurements.slo."""
    slo = ((run.get("measurements") or {}).get("slo"))
    if not slo:
        return None
    phases = [p for p in ("baseline", "fault", "recovery") if isinstance(slo.get(p), dict)]
    phases += [p for p, v in slo.items() if p not in phases and isinstance(v, dict)]
    metrics: dict[str, None] = {}
    for p in phases:
        for k, v in slo[p].items():
            if not isinstance(v, (dict, list)):
                metrics.setdefault(k, None)
    rows = [(m.replace("_", " "), [_fmt_metric(m, slo[p].get(m)) for p in phases]) for m in metrics]
    return {"phases": phases, "rows": rows} if rows else None


def target_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, handles in (run.get("targets") or {}).items():
        if isinstance(handles, dict):
            text = "; ".join(f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}"
                             for k, v in handles.items())
        else:
            text = str(handles)
        out.append((str(name), clip(text, 600)))
    return out


def targets_line(run: dict[str, Any]) -> str:
    """``api (url), postgres-primary (toxiproxy, process) · drivers: toxiproxy``: the header's compact line."""
    parts = []
    for name, handles in (run.get("targets") or {}).items():
        kinds = [k for k in handles if k not in ("password", "secret")] if isinstance(handles, dict) else []
        parts.append(f"{name} ({', '.join(kinds)})" if kinds else str(name))
    drivers = ((run.get("plan") or {}).get("drivers")) or []
    text = ", ".join(parts) or "none"
    if drivers:
        text += " · drivers: " + ", ".join(str(d) for d in drivers)
    return clip(text, 600)


def versions_line(run: dict[str, Any]) -> str:
    versions = run.get("versions") or {}
    parts = [f"chaosrunner {versions['chaosrunner']}" if versions.get("chaosrunner") else "",
             f"Python {versions['python']}" if versions.get("python") else ""]
    return " · ".join(p for p in parts if p) or "—"


@dataclass
class GameDayView:
    phases: list[dict[str, Any]] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    action_items: list[dict[str, Any]] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)
    timeline: list[tuple[str, str]] = field(default_factory=list)


def _t(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return clock(float(value))
    return when_text(value) if isinstance(value, str) and "T" in value else clip(value or "—", 80)


def gameday_of(run: dict[str, Any], tl: Timeline) -> GameDayView | None:
    gd = run.get("gameday")
    if not gd:
        return None
    view = GameDayView()
    lines: list[tuple[float, str, str]] = []
    for ph in gd.get("phases") or []:
        steps = []
        for st in ph.get("steps") or []:
            status = str(st.get("status", ""))
            steps.append({"kind": st.get("kind", ""), "name": clip(st.get("name", "")), "status": status,
                          "mark": {"ok": "✓", "passed": "✓", "done": "✓", "confirmed": "✓", "failed": "✗",
                                   "timeout": "✗", "skipped": "–"}.get(status, "·"),
                          "t": _t(st.get("t")), "took": duration_text(st.get("took")),
                          "detail": clip(st.get("detail") or "")})
            if isinstance(st.get("t"), (int, float)):
                lines.append((float(st["t"]), f"{st.get('kind', 'step')}: {clip(st.get('name', ''), 120)}", status))
        view.phases.append({"name": clip(ph.get("name", "")), "started": _t(ph.get("started")),
                            "ended": _t(ph.get("ended")), "steps": steps})
    for c in gd.get("criteria") or []:
        if isinstance(c, dict):
            status = str(c.get("status", c.get("met", "")))
            status = {"True": "passed", "False": "failed"}.get(status, status)
            view.criteria.append({"name": clip(c.get("name") or c.get("text") or c.get("criterion") or ""),
                                  "expected": clip(c.get("expected", "")), "measured": clip(c.get("measured", "")),
                                  "status": status, "mark": VERDICT_MARK.get(status, "·")})
        else:
            view.criteria.append({"name": clip(c), "expected": "", "measured": "", "status": "", "mark": "·"})
    for item in gd.get("action_items") or []:
        if isinstance(item, dict):
            view.action_items.append({"text": clip(item.get("text") or item.get("title") or ""),
                                      "owner": clip(item.get("owner") or "", 80), "done": bool(item.get("done"))})
        else:
            view.action_items.append({"text": clip(item), "owner": "", "done": False})
    view.roles = [(str(k), clip(", ".join(v) if isinstance(v, list) else v, 200))
                  for k, v in (gd.get("roles") or {}).items()]
    for e in tl.events_of(EventKind.FAULT_INJECTED, EventKind.FAULT_REVERTED, EventKind.ABORT, EventKind.PHASE_STARTED):
        d = e.data
        text = {EventKind.FAULT_INJECTED: f"fault injected: {d.get('type', '')} on {d.get('target', '')}",
                EventKind.FAULT_REVERTED: f"fault reverted: {d.get('type', '')} on {d.get('target', '')}",
                EventKind.ABORT: f"aborted: {d.get('reason', '')}",
                EventKind.PHASE_STARTED: f"phase {d.get('phase', '')} started"}[e.kind]
        lines.append((e.t, clip(text, 160), ""))
    for n in run.get("notes") or []:
        if isinstance(n.get("t"), (int, float)):
            author = clip(n.get("author") or "team", 40)
            lines.append((float(n["t"]), f"note ({author}): {clip(n.get('text'), 160)}", ""))
    lines.sort(key=lambda x: x[0])
    view.timeline = [(clock(t), text + (f" — {status}" if status else "")) for t, text, status in lines]
    return view


def note_rows(run: dict[str, Any]) -> list[dict[str, str]]:
    return [{"t": clock(n.get("t")) if isinstance(n.get("t"), (int, float)) else "—",
             "author": clip(n.get("author") or "", 60), "text": clip(n.get("text") or "", 2000)}
            for n in run.get("notes") or []]


def verdict_counts(verdicts: list[Verdict]) -> Counter[str]:
    return Counter(v.status.value for v in verdicts)
