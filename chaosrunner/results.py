"""Results of a run: ``RunResult`` and the ``run.json`` it is written as (schema chaosrunner/run/v1).

run.json holds everything analysis and reports need: the experiment as written (references
unresolved, so no secret value), the resolved targets with secrets redacted, the whole
timeline, verdicts, measurements and versions. Every string that leaves the process passes
through the run's ``Secrets.redact``.
"""
from __future__ import annotations

import json
import os
import platform
import re
import secrets as _random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from chaosrunner.analyse.judge import Analysis
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Verdict
from chaosrunner.planning import Plan
from chaosrunner.timeline import Timeline


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


@dataclass
class RunResult:
    run_id: str
    name: str
    status: RunStatus
    run_dir: Path
    verdicts: list[Verdict]
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    abort_reason: str | None = None

    @property
    def exit_code(self) -> int:
        return RunStatus(self.status).exit_code

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment": self.name, "status": self.status, "exit_code": self.exit_code,
                "run_dir": str(self.run_dir), "abort_reason": self.abort_reason,
                "verdicts": [v.to_dict() for v in self.verdicts]}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "value"):
        return obj.value
    return repr(obj)


def _finite(obj: Any) -> Any:
    """JSON has no infinity: unbounded measurements become null (their verdict says 'never')."""
    if isinstance(obj, float) and (obj in (float("inf"), float("-inf")) or obj != obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_run_json(run_dir: Path, data: dict[str, Any], redact: Any) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(redact(data)), indent=1, default=_json_default, allow_nan=False)
    path = run_dir / "run.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{slug}-{_random.token_hex(2)}"


def run_document(p: Plan, tl: Timeline, result: RunResult, analysis: Analysis, aborted: str | None,
                 errors: list[str], revert_failures: list[str]) -> dict[str, Any]:
    """The run record of one experiment run, as written to run.json."""
    exp = p.experiment
    model = exp.model
    inv = exp.inventory.model.model_dump(mode="json", exclude_none=True) if exp.inventory else {}
    ended = tl.wall(tl.now())
    return {
        "schema": "chaosrunner/run/v1",
        "run_id": result.run_id,
        "experiment": {
            "name": model.name, "description": model.description, "hypothesis": model.hypothesis,
            "file": str(exp.file), "kind": "Experiment",
            "objectives": model.objectives.model_dump(mode="json"),
            "raw": exp.raw,
        },
        "targets": inv.get("targets", {}),
        "environment": p.environment,
        "status": str(result.status),
        "exit_code": result.exit_code,
        "started": iso(tl.started_wall), "ended": iso(ended), "duration_s": round(ended - tl.started_wall, 3),
        "sampling": {"interval": model.sampling.interval, "stable_for": model.sampling.stable_for},
        "probes": p.probe_names,
        "abort_reason": aborted,
        "errors": errors,
        "revert_failures": revert_failures,
        "plan": plan_document(p),
        "timeline": tl.to_dict(),
        "verdicts": [v.to_dict() for v in result.verdicts],
        "measurements": analysis.measurements(),
        "notes": [],
        "gameday": None,
        "load": {"csv": sorted(f.name for f in result.run_dir.glob("*.csv")),
                 "log": "locust.log"} if p.experiment.model.load is not None else None,
        "versions": versions(),
    }


def plan_document(p: Plan) -> dict[str, Any]:
    """What ``plan`` shows (and run.json keeps): each step, each fault with its driver, inject and revert."""
    def step(s: Any) -> dict[str, Any]:
        return {"index": s.index, "kind": s.kind, "label": s.label, "at": s.at, "duration": s.duration,
                "faults": [{"fault_id": f.fault_id, "target": f.target_name, "driver": f.driver,
                            "inject": d[0], "revert": d[1]} for f, d in zip(s.faults, s.describe, strict=True)]}

    return {"experiment": p.name, "environment": p.environment, "blast_radius": p.blast_radius,
            "drivers": p.drivers, "expected_duration": p.expected_duration, "probes": p.probe_names,
            "method": [step(s) for s in p.steps], "rollback": [step(s) for s in p.rollbacks],
            "outside_loopback": p.outside_loopback}
