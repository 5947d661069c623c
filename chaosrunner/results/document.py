"""Building a run's record from its plan, timeline and analysis; writing and reading run.json.

run.json holds everything analysis and reports need: the experiment as written (references
unresolved, so no secret value), the resolved targets with secrets redacted, the whole
timeline, verdicts, measurements and versions. Every string in it passes through the run's
``Secrets.redact`` before it is written (``results.redaction.redacted``); what is written is a
``RunRecord``, so it is valid against the published schema by construction.
"""
from __future__ import annotations

import json
import os
import platform
import re
import secrets as _random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosrunner.planning import timescale
from chaosrunner.results.migrate import run_record
from chaosrunner.results.record import (
    ExperimentInfo,
    IntegrityMeasurement,
    LoadFiles,
    Measurements,
    Note,
    PlanInfo,
    RunRecord,
    SamplingInfo,
    SloWindow,
    TimelineRecord,
    WindowMeasurement,
    WorstWindow,
)
from chaosrunner.timeline import Timeline, fault_windows

if TYPE_CHECKING:
    from chaosrunner.analyse.judge import Analysis
    from chaosrunner.planning import Plan
    from chaosrunner.results.result import RunResult


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("chaosrunner", "chaostoolkit-lib", "toxiproxy-python", "locust", "pydantic"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{slug}-{_random.token_hex(2)}"


def run_document(p: Plan, tl: Timeline, result: RunResult, analysis: Analysis, aborted: str | None,
                 errors: list[str], revert_failures: list[str]) -> RunRecord:
    """The record of one experiment run, as it is written to run.json (before redaction)."""
    exp = p.experiment
    model = exp.model
    inv = exp.inventory.model.model_dump(mode="json", exclude_none=True) if exp.inventory else {}
    ended = tl.wall(tl.now())
    return RunRecord(
        run_id=result.run_id,
        experiment=ExperimentInfo(name=model.name, description=model.description, hypothesis=model.hypothesis,
                                  file=str(exp.file), kind="Experiment", severity=model.severity,
                                  risks=list(model.risks),
                                  objectives=model.objectives.model_dump(mode="json"), raw=exp.raw),
        targets=inv.get("targets", {}),
        environment=p.environment,
        status=result.status, exit_code=result.status.exit_code,
        started=datetime.fromtimestamp(tl.started_wall, UTC), ended=datetime.fromtimestamp(ended, UTC),
        duration_s=round(ended - tl.started_wall, 3),
        sampling=SamplingInfo(interval=model.sampling.interval, stable_for=model.sampling.stable_for,
                              fine=model.sampling.fine, watch=model.sampling.watch),
        probes=p.probe_names,
        abort_reason=aborted,
        errors=errors,
        revert_failures=revert_failures,
        plan=plan_record(p),
        timeline=TimelineRecord.of(tl),
        verdicts=result.verdicts,
        measurements=measurements_record(analysis),
        load=LoadFiles(csv=sorted(f.name for f in result.run_dir.glob("*.csv")))
        if model.load is not None else None,
        versions=versions(),
        notes=[Note(t=0.0, author="chaosrunner", text=timescale.note(exp.time_scale))]
        if exp.time_scale != 1 else [],
    )


def measurements_record(analysis: Analysis) -> Measurements:
    """``Analysis.measurements()`` typed, each fault window with the targets its fault events name."""
    measured = analysis.measurements()
    targets = {w.index: list(w.targets) for w in fault_windows(analysis.timeline.events)}
    integrity, slo = measured.get("integrity"), measured.get("slo")
    return Measurements(
        windows=[WindowMeasurement.model_validate({**w, "targets": targets.get(w["window"], [])})
                 for w in measured.get("windows") or []],
        integrity=IntegrityMeasurement.model_validate(integrity) if integrity is not None else None,
        slo={name: SloWindow.model_validate(w) for name, w in slo.items()} if slo is not None else None,
        worst={name: WorstWindow.model_validate(w) for name, w in (measured.get("worst") or {}).items()})


def plan_record(p: Plan) -> PlanInfo:
    """What ``plan`` shows (and run.json keeps): each step, each fault with its driver, inject and revert."""
    def step(s: Any) -> dict[str, Any]:
        return {"index": s.index, "kind": s.kind, "label": s.label, "at": s.at, "duration": s.duration,
                "faults": [{"fault_id": f.fault_id, "target": f.target_name, "driver": f.driver,
                            "inject": d[0], "revert": d[1]} for f, d in zip(s.faults, s.describe, strict=True)]}

    return PlanInfo.model_validate(
        {"experiment": p.name, "environment": p.environment, "blast_radius": p.blast_radius,
         "drivers": p.drivers, "expected_duration": p.expected_duration, "probes": p.probe_names,
         "method": [step(s) for s in p.steps], "rollback": [step(s) for s in p.rollbacks],
         "outside_loopback": p.outside_loopback})


def plan_document(p: Plan) -> dict[str, Any]:
    """The plan as JSON (``chaosrunner plan --json``)."""
    return plan_record(p).model_dump(mode="json")


def write_run_json(run_dir: Path, record: RunRecord | Mapping[str, Any],
                   redact: Callable[[Any], Any] | None = None) -> Path:
    """Write ``run_dir/run.json`` atomically. A mapping is read as a record first (v1 is migrated)."""
    if not isinstance(record, RunRecord):
        record = run_record(record)
    doc = record.document()
    if redact is not None:
        doc = redact(doc)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=True)
    path = run_dir / "run.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_run_record(path: Path | str) -> RunRecord:
    """The record in a run.json (or in a run folder's run.json), whatever its schema version.

    Raises ``ValueError`` (``json.JSONDecodeError``, pydantic's ``ValidationError`` or
    ``RecordError``) when the file is not a run record this version can read."""
    path = Path(path)
    if path.is_dir():
        path = path / "run.json"
    with path.open(encoding="utf-8") as fh:
        return run_record(json.load(fh))
