"""Read a run record into what the report, the summary and JUnit show (pure; no I/O).

Every optional part of a record may be missing (a run without load, without a writer, aborted
before any fault, or migrated from an older run.json): each reader here returns an empty value
then, never raises. The game-day part is in ``_gameday``.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, UTC
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.results import RunRecord
from chaosrunner.results.record import SloWindow, WindowMeasurement
from chaosrunner.timeline import EventKind, Timeline, fault_windows
from chaosrunner.units import format_duration

STATUS_TEXT = {
    RunStatus.HELD: ("✓", "held"),
    RunStatus.FAILED: ("✗", "failed"),
    RunStatus.ABORTED: ("!", "aborted"),
    RunStatus.INCONCLUSIVE: ("?", "inconclusive"),
    RunStatus.REVERT_FAILED: ("✗", "fault not reverted"),
}
VERDICT_MARK = {Status.PASSED: "✓", Status.FAILED: "✗", Status.UNKNOWN: "?", Status.SKIPPED: "–"}
MAX_EVENT_ROWS = 2000
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


def when_text(when: datetime | str | None) -> str:
    """``2026-11-26T20:15:00.123Z`` (or that instant) → ``2026-11-26 20:15:00 UTC``."""
    if not when:
        return "—"
    if isinstance(when, datetime):
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return when


def duration_text(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def run_span(tl: Timeline, record: RunRecord) -> float:
    """The run's length on its own clock: the latest thing recorded (never zero)."""
    ends = [e.t for e in tl.events[-5:]] + [s.end for s in tl.samples[-50:]]
    ends += [s.t for s in tl.load_stats[-50:]] + [w.ack or w.sent for w in tl.writes[-50:]]
    ends.append(float(record.duration_s or 0.0))
    return max(ends + [1.0])


def windows_of(record: RunRecord, tl: Timeline) -> list[WindowMeasurement]:
    """Fault windows with their measurements (``measurements.windows``, else the bare windows of the events)."""
    if record.measurements.windows:
        return list(record.measurements.windows)
    return [WindowMeasurement(window=w.index, t0=w.start, reverted_at=w.end, targets=list(w.targets))
            for w in fault_windows(tl.events)]


def instants_of(windows: Sequence[WindowMeasurement]) -> list[tuple[str, float, int]]:
    """(kind, run-clock time, window index) of every detection, recovery and failover."""
    out = []
    for w in windows:
        for kind, value in (("detection", w.detection_time), ("recovery", w.recovery_time), ("failover", w.failover)):
            if value is None or (kind == "recovery" and w.recovered is False) or not math.isfinite(value):
                continue
            if kind == "recovery" and (w.detected is False or w.detection_time is None):
                continue      # nothing deviated, so nothing recovered: no line at t0
            # a time measured from a named fault (objectives' from:) is drawn where it happened
            at = w.t0 + value
            if kind == "recovery" and w.recovered_at is not None:
                at = w.recovered_at
            elif kind == "failover" and w.failover_result is not None and w.failover_result.failover_at is not None:
                at = w.failover_result.failover_at
            out.append((kind, at, w.window))
        users = w.users.overall if w.users is not None else None
        if users is not None and users.affected and users.recovered_at is not None:
            out.append(("users", users.recovered_at, w.window))
    return out


def _faults_text(w: WindowMeasurement) -> str:
    """``f1 partition on db +0.0s (reverted +20.0s); f2 ...``: each fault of the window at its offset."""
    if not w.faults:
        return ", ".join(w.targets) or "—"
    return "; ".join(f"{f.fault_id} {f.step or f.type} on {f.target} +{format_duration(f.offset)}"
                     + ("" if f.reverted is None else f" (reverted +{format_duration(f.reverted)})")
                     for f in w.faults)


def _users_text(w: WindowMeasurement) -> str:
    """Users' recovery: when every request started succeeding, after t0, ± the request spacing."""
    if w.users is None:
        return "—"
    o = w.users.overall
    if not o.affected:
        return "no failed request"
    if not o.recovered or o.recovery_time is None:
        return "not recovered"
    pm = f" ±{format_duration(o.resolution)}" if o.resolution else ""
    worst = [e for e in w.users.endpoints if e.affected]
    tail = "; " + ", ".join(f"{e.name}: " + ("not recovered" if e.recovery_time is None else
                                             duration_text(e.recovery_time)) for e in worst[:4]) if worst else ""
    return f"{duration_text(o.recovery_time)}{pm} ({o.failures} failed){tail}"


def _writes_text(w: WindowMeasurement) -> str:
    """The writer's view: first acknowledgement after the outage, and the longest gap between acknowledgements."""
    if w.writes is None:
        return "—"
    x = w.writes
    pm = f" ±{format_duration(x.resolution)}" if x.resolution else ""
    first = ("no write failed" if x.failed == 0 else "none acknowledged after" if x.first_ack_after_outage is None
             else f"first ack +{duration_text(x.first_ack_after_outage)}{pm}")
    gap = "—" if x.longest_gap is None else f"longest gap {duration_text(x.longest_gap)}{pm}"
    return f"{first}; {gap}"


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


def objective_rows(record: RunRecord, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Every verdict, then each declared objective that no verdict judged."""
    rows = [{"name": v.name, "kind": v.kind, "status": v.status.value, "mark": VERDICT_MARK[v.status],
             "expected": v.expected, "measured": v.measured, "precision": precision_text(v),
             "detail": clip(v.detail), "bad": v.status is Status.FAILED} for v in verdicts]
    declared = record.experiment.objectives.model_dump(by_alias=True)
    judged = {v.name.lower().split()[0] for v in verdicts if v.name}
    for key, value in declared.items():
        if value is None or key in judged:
            continue
        if isinstance(value, dict):
            expected = ", ".join(f"{k} {_fmt_objective(v)}" for k, v in value.items() if v is not None)
        else:
            expected = "≤ " + _fmt_objective(value)
        rows.append({"name": key, "kind": "objective", "status": Status.SKIPPED.value,
                     "mark": VERDICT_MARK[Status.SKIPPED], "expected": expected, "measured": "not measured",
                     "precision": "—", "detail": "no verdict was recorded for it", "bad": False})
    return rows


def _fmt_objective(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(float(value))
    return str(value)


def _pm_text(value: float | None, pm: str) -> str:
    return "—" if value is None else duration_text(float(value)) + pm


def _failover_texts(w: WindowMeasurement, pm: str) -> tuple[str, str]:
    """(failover, failback) cells of a window."""
    fo = w.failover_result
    if fo is None:
        failback_text = "—"
    elif fo.failback_time is None:
        failback_text = "not failed back" if fo.failover_at is not None else "—"
    else:
        failback_text = _pm_text(fo.failback_time, pm)
    if w.failover is None and fo is not None and not fo.failed_over:
        failover_text = "not needed" if fo.deviated is False else "no failover"
    elif w.failover is None and fo is not None and fo.measured is not False:
        failover_text = "never completed"
    else:
        failover_text = _pm_text(w.failover, pm)
    return failover_text, failback_text


def window_rows(windows: Sequence[WindowMeasurement]) -> list[dict[str, Any]]:
    rows = []
    for w in windows:
        pm = f" ±{format_duration(w.resolution)}" if w.resolution else ""
        rec = w.recovery_time
        if w.measured is False:
            rec_text = "not measured"
        elif w.recovered is False or (rec is None and w.detection_time is not None):
            rec_text = "not recovered"
        else:
            rec_text = _pm_text(rec, pm)
        if w.deviations is None:
            dev_text = "—"
        else:
            dev_text = str(w.deviations) + (" (flapping)" if w.deviations > 1 else "")
        failover_text, failback_text = _failover_texts(w, pm)
        if w.detection_time is not None:
            detection = _pm_text(w.detection_time, pm)
        else:
            detection = "no deviation" if w.detected is False else "—"
        rows.append({"index": w.window + 1, "start": clock(w.t0), "end": clock(w.reverted_at),
                     "targets": ", ".join(w.targets) or "—", "detection": detection, "recovery": rec_text,
                     "out_of_slo": duration_text(w.out_of_slo) if w.out_of_slo is not None else "—",
                     "deviations": dev_text, "relapses": "—" if w.relapses is None else str(w.relapses),
                     "failover": failover_text, "failback": failback_text, "faults": _faults_text(w),
                     "users": _users_text(w), "writes": _writes_text(w),
                     "origin": "" if w.origin is None or w.origin_at is None else
                     f"from {w.origin}, +{format_duration(w.origin_at - w.t0)}",
                     "bad": rec_text == "not recovered" or bool(w.relapses)})
    return rows


def integrity_rows(record: RunRecord) -> list[tuple[str, str]]:
    """The writer's figures, formatted: durations with their ± precision, instants on the run clock."""
    integ = record.measurements.integrity
    if integ is None:
        return []
    res = integ.resolution
    pm = f" ± {format_duration(res)}" if res else ""
    rows = [("RPO measured", "—" if integ.rpo is None else duration_text(integ.rpo) + pm)]
    for key, label in (("writes", "writes issued"), ("acknowledged", "acknowledged"),
                       ("lost", "lost (acknowledged, then missing or altered)"), ("corrupted", "corrupted"),
                       ("duplicated", "duplicated"), ("unacknowledged_present", "not acknowledged but present")):
        value = getattr(integ, key)
        if value is not None:
            rows.append((label, str(value)))
    if integ.loss_window:
        rows.append(("loss window", f"{clock(integ.loss_window[0])} – {clock(integ.loss_window[1])}"))
    if integ.last_surviving_before_loss is not None:
        rows.append(("RPO measured from", clock(integ.last_surviving_before_loss)))
    if len(integ.incidents) > 1:
        for i in integ.incidents:
            worst = " (the worst: RPO measured)" if i.index == integ.worst_incident else ""
            where = "" if i.window is None else f", fault window {i.window + 1}"
            rows.append((f"incident {i.index + 1}{where}",
                         f"{i.lost} lost, acknowledged {clock(i.first_lost_ack)} – {clock(i.last_lost_ack)}; "
                         f"RPO {duration_text(i.rpo)}{pm}{worst}"))
    if res:
        rows.append(("resolution (one write interval)", format_duration(res)))
    if integ.read_back is False:
        rows.append(("read back", "no"))
    if integ.note:
        rows.append(("note", clip(integ.note)))
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


def _metrics(w: SloWindow) -> list[str]:
    """The figures a window holds (all of them in a v2 record; a migrated v1 one may hold fewer)."""
    return [name for name in SloWindow.model_fields if name != "span" and name in w.model_fields_set]


def slo_table(record: RunRecord) -> dict[str, Any] | None:
    """{"phases": [...], "rows": [(metric, [cell, ...]), ...]} from measurements.slo."""
    slo = record.measurements.slo
    if not slo:
        return None
    phases: list[str] = [p for p in ("baseline", "fault", "recovery") if p in slo]
    phases += [p for p in slo if p not in phases]
    metrics: dict[str, None] = {}
    for p in phases:
        for k in _metrics(slo[p]):
            metrics.setdefault(k, None)
    rows = [(m.replace("_", " "), [_fmt_metric(m, getattr(slo[p], m) if m in _metrics(slo[p]) else None)
                                   for p in phases]) for m in metrics]
    return {"phases": phases, "rows": rows} if rows else None


def target_rows(record: RunRecord) -> list[tuple[str, str]]:
    out = []
    for name, handles in record.targets.items():
        text = "; ".join(f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v}"
                         for k, v in handles.items())
        out.append((str(name), clip(text, 600)))
    return out


def targets_line(record: RunRecord) -> str:
    """``api (url), postgres-primary (toxiproxy, process) · drivers: toxiproxy``: the header's compact line."""
    parts = []
    for name, handles in record.targets.items():
        kinds = [k for k in handles if k not in ("password", "secret")]
        parts.append(f"{name} ({', '.join(kinds)})" if kinds else str(name))
    drivers = record.plan.drivers if record.plan is not None else []
    text = ", ".join(parts) or "none"
    if drivers:
        text += " · drivers: " + ", ".join(str(d) for d in drivers)
    return clip(text, 600)


def versions_line(record: RunRecord) -> str:
    versions = record.versions
    parts = [f"chaosrunner {versions['chaosrunner']}" if versions.get("chaosrunner") else "",
             f"Python {versions['python']}" if versions.get("python") else ""]
    return " · ".join(p for p in parts if p) or "—"


def note_rows(record: RunRecord) -> list[dict[str, str]]:
    return [{"t": clock(n.t), "author": clip(n.author or "", 60), "text": clip(n.text or "", 2000)}
            for n in record.notes]


def verdict_counts(verdicts: list[Verdict]) -> Counter[str]:
    return Counter(v.status.value for v in verdicts)
