"""Reading run.json of any schema version into the ``RunRecord``: v2 as it is, v1 migrated on read.

v1 (``chaosrunner/run/v1``) files were written by ``run_document`` before the record was typed,
and some by hand or by older versions, so every part of one may be missing or null. The
migration is pure (dict in, dict out) and keeps what a v1 report showed:

- ``exit_code`` is taken from the status (RunStatus owns it), whatever the file said;
- a fault window's figures under the report's names (``index``, ``start``, ``end``,
  ``detection``, ``recovery``) move to the analysis' names (``window``, ``t0``, ``reverted_at``,
  ``detection_time``, ``recovery_time``); a window without targets takes those of the fault events
  that start it; one that deviated, never recovered and does not say so gets ``recovered: false``;
- a verdict that cannot be read becomes an ``unknown`` one saying so; a null part becomes empty;
- keys no v1 writer wrote are dropped (a v2 file with an unknown key is refused instead).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.results.record import (
    RUN_SCHEMA,
    RUN_SCHEMA_V1,
    FailoverMeasurement,
    IntegrityMeasurement,
    PlanInfo,
    PlannedFaultInfo,
    PlanStepInfo,
    RunRecord,
    SloWindow,
    WindowMeasurement,
)
from chaosrunner.timeline import Event, EventKind, LoadStat, Sample, WriteRecord, fault_windows

# v1 window keys written by hand (and by the report's own fixtures) → the analysis' names
WINDOW_ALIASES = (("index", "window"), ("start", "t0"), ("end", "reverted_at"), ("detection", "detection_time"),
                  ("recovery", "recovery_time"))


class RecordError(ValueError):
    """A document that is not a run record this version can read (the message says why)."""


def run_record(doc: Any) -> RunRecord:
    """The record of a run.json document: v2 validated as it is, v1 migrated first."""
    if not isinstance(doc, Mapping):
        raise RecordError(f"a run record is a JSON object, not {type(doc).__name__}")
    schema = doc.get("schema")
    if schema == RUN_SCHEMA:
        return RunRecord.model_validate(doc)
    if schema == RUN_SCHEMA_V1:
        return RunRecord.model_validate(migrate_v1(doc))
    raise RecordError(f"schema {schema!r} is not a run record this version reads "
                      f"({RUN_SCHEMA_V1} or {RUN_SCHEMA})")


def _keep(d: Any, keys: Any) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in keys} if isinstance(d, Mapping) else {}


def _list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else []


def _dict(x: Any) -> dict[str, Any]:
    return dict(x) if isinstance(x, Mapping) else {}


def _names(cls: Any) -> set[str]:
    return set(cls.model_fields) if hasattr(cls, "model_fields") else {f.name for f in fields(cls)}


def migrate_v1(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 document as a v2 one (see the module docstring for what changes)."""
    timeline = _timeline(_dict(doc.get("timeline")))
    exp = _dict(doc.get("experiment"))
    out: dict[str, Any] = {
        "schema": RUN_SCHEMA,
        "run_id": str(doc.get("run_id") or ""),
        "experiment": {**_keep(exp, ("name", "description", "hypothesis", "file", "kind", "severity", "raw")),
                       "name": str(exp.get("name") or "experiment"),
                       "objectives": _dict(exp.get("objectives"))},
        "targets": {str(k): v if isinstance(v, Mapping) else {"value": v}
                    for k, v in _dict(doc.get("targets")).items()},
        "status": doc.get("status"),
        "started": doc.get("started") or None, "ended": doc.get("ended") or None,
        "duration_s": doc.get("duration_s"),
        "sampling": doc.get("sampling") or None,
        "probes": [str(p) for p in _list(doc.get("probes"))],
        "abort_reason": doc.get("abort_reason"),
        "errors": [str(e) for e in _list(doc.get("errors"))],
        "revert_failures": [str(e) for e in _list(doc.get("revert_failures"))],
        "plan": _plan(doc.get("plan")),
        "timeline": timeline,
        "verdicts": [_verdict(v) for v in _list(doc.get("verdicts"))],
        "measurements": _measurements(_dict(doc.get("measurements")), timeline["events"]),
        "notes": [_keep(n, ("t", "author", "text")) for n in _list(doc.get("notes")) if isinstance(n, Mapping)],
        "gameday": _gameday(doc.get("gameday")),
        "load": _keep(doc.get("load"), ("csv", "log")) if isinstance(doc.get("load"), Mapping) else None,
        "versions": {str(k): str(v) for k, v in _dict(doc.get("versions")).items()},
    }
    if isinstance(doc.get("environment"), str):
        out["environment"] = doc["environment"]
    return out


def _timeline(tl: dict[str, Any]) -> dict[str, Any]:
    events = [{**_keep(e, _names(Event)), "data": _dict(e.get("data"))}
              for e in _list(tl.get("events")) if isinstance(e, Mapping)]
    return {"started_wall": tl.get("started_wall") or 0.0, "events": events,
            "samples": [_keep(s, _names(Sample)) for s in _list(tl.get("samples"))],
            "load_stats": [_keep(s, _names(LoadStat)) for s in _list(tl.get("load_stats"))],
            "writes": [_keep(w, _names(WriteRecord)) for w in _list(tl.get("writes"))]}


def _verdict(d: Any) -> dict[str, Any]:
    d = _keep(d, _names(Verdict))
    try:
        return Verdict.from_dict(d).to_dict()
    except (TypeError, ValueError, KeyError):
        return Verdict(str(d.get("name", "?")), Status.UNKNOWN, str(d.get("expected", "")),
                       str(d.get("measured", "")), "unreadable verdict in run.json").to_dict()


def _plan(plan: Any) -> dict[str, Any] | None:
    if not isinstance(plan, Mapping):
        return None
    out = _keep(plan, _names(PlanInfo))
    for section in ("method", "rollback"):
        steps = [_keep(s, _names(PlanStepInfo)) for s in _list(plan.get(section))]
        for s in steps:
            s["faults"] = [_keep(f, _names(PlannedFaultInfo)) for f in _list(s.get("faults"))]
        out[section] = steps
    return out


def _measurements(m: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    starts = fault_windows(Event(e.get("seq", 0), e.get("t", 0.0), e.get("wall", 0.0), EventKind(e["kind"]),
                                 e["data"]) for e in events if e.get("kind") in set(EventKind))
    windows = [_window(w, i, starts) for i, w in enumerate(_list(m.get("windows"))) if isinstance(w, Mapping)]
    integrity = m.get("integrity")
    slo = m.get("slo")
    return {"windows": windows,
            "integrity": _keep(integrity, _names(IntegrityMeasurement)) if isinstance(integrity, Mapping) else None,
            "slo": {str(k): _keep(v, _names(SloWindow)) for k, v in slo.items() if isinstance(v, Mapping)}
            if isinstance(slo, Mapping) else None}


def _window(w: Mapping[str, Any], i: int, from_events: Any) -> dict[str, Any]:
    w = dict(w)
    for alias, key in WINDOW_ALIASES:
        if w.get(key) is None and w.get(alias) is not None:
            w[key] = w[alias]
    w.setdefault("window", i)
    if w.get("recovery_time") is None and "recovered" not in w and w.get("detection_time") is not None:
        w["recovered"] = False
    if not w.get("targets"):
        start = w.get("t0")
        same = [fw for fw in from_events if start is not None and abs(fw.start - start) < 1e-6]
        w["targets"] = list(same[0].targets) if same else []
    out = _keep(w, _names(WindowMeasurement))
    if isinstance(w.get("failover_result"), Mapping):
        out["failover_result"] = _keep(w["failover_result"], _names(FailoverMeasurement))
    else:
        out.pop("failover_result", None)
    return out


def _gameday(gd: Any) -> dict[str, Any] | None:
    if not gd or not isinstance(gd, Mapping):
        return None
    phases = []
    for ph in _list(gd.get("phases")):
        if isinstance(ph, Mapping):
            steps = [{k: v for k, v in _keep(st, ("kind", "name", "status", "t", "took", "detail")).items()
                      if v is not None or k in ("t", "took")} for st in _list(ph.get("steps"))]
            for st in steps:
                st["status"] = str(st.get("status", ""))
            phases.append({**_keep(ph, ("name", "started", "ended")), "steps": steps})
    criteria: list[Any] = []
    for c in _list(gd.get("criteria")):
        if not isinstance(c, Mapping):
            criteria.append(str(c))
            continue
        status = str(c.get("status", c.get("met", "")))
        criteria.append({"name": str(c.get("name") or c.get("text") or c.get("criterion") or ""),
                         "expected": str(c.get("expected", "")), "measured": str(c.get("measured", "")),
                         "status": {"True": Status.PASSED.value, "False": Status.FAILED.value}.get(status, status)})
    items: list[Any] = []
    for item in _list(gd.get("action_items")):
        if isinstance(item, Mapping):
            items.append({"text": str(item.get("text") or item.get("title") or ""),
                          "owner": str(item.get("owner") or ""), "done": bool(item.get("done"))})
        else:
            items.append(str(item))
    roles = {str(k): [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in _dict(gd.get("roles")).items()}
    return {"phases": phases, "criteria": criteria, "action_items": items, "roles": roles}
