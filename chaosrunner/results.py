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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from chaosrunner.analyse.verdict import Verdict

# inconclusive: nothing failed, but a declared objective could not be measured; a CI gate must
# not pass on a number the run does not have, so it exits like a failed hypothesis
EXIT_CODES = {"held": 0, "failed": 1, "inconclusive": 1, "aborted": 3, "revert_failed": 4}


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
    status: str                         # held | failed | inconclusive | aborted | revert_failed
    run_dir: Path
    verdicts: list[Verdict]
    data: dict[str, Any] = field(repr=False, default_factory=dict)
    abort_reason: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

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
