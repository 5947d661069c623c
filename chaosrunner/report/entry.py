"""What the index shows of one run (``IndexEntry``), kept beside it as ``summary.json``.

The index reads its entries from the history (``results.history``, ``reports/history.sqlite``),
where the figures are defined once:

- RTO of a run = its longest recovery over its fault windows; a run with a window that never
  recovered has an unbounded RTO (``rto`` null, ``recovered`` false), never the largest finite value.
- p99 = the fault window's p99 as the run measured it (``measurements.slo.fault.p99``, estimated
  from per-second percentiles), else the worst per-second p99 during the fault windows.

Each run directory also holds its ``summary.json`` (written with its report), for tools that read one
run's figures without the history.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from chaosrunner.analyse.status import RunStatus
from chaosrunner.results import RunRecord, read_run_record
from chaosrunner.results.history import HistoryRow, history_row

ENTRY_VERSION = 2


class IndexEntry(BaseModel):
    """One run in the index (small, JSON-safe): its status, RTO, RPO and p99 in the fault window."""

    model_config = ConfigDict(extra="forbid")

    version: int = ENTRY_VERSION
    run_id: str
    experiment: str
    kind: str
    status: RunStatus
    started: str | None
    duration_s: float | None
    rto: float | None
    recovered: bool
    rpo: float | None
    lost: int | None
    p99: float | None
    verdicts: dict[str, int]
    failed: list[str]


def entry_of(row: HistoryRow) -> IndexEntry:
    """What the index shows of a run in the history (the figures are defined in ``results.history``)."""
    return IndexEntry(run_id=row.run_id, experiment=row.experiment, kind=row.kind, status=row.status,
                      started=row.started, duration_s=row.duration_s, rto=row.rto, recovered=row.recovered,
                      rpo=row.rpo, lost=row.lost, p99=row.p99, verdicts=dict(row.verdicts), failed=list(row.failed))


def index_entry(record: RunRecord) -> IndexEntry:
    """What the index shows of one run."""
    return entry_of(history_row(record))


def entry_json(entry: IndexEntry) -> str:
    """summary.json's text."""
    return json.dumps(entry.model_dump(mode="json"), indent=1, allow_nan=False)


def read_entry(run_dir: Path) -> IndexEntry | None:
    """The entry of the run in ``run_dir``: its summary.json when current, else its run.json's; None: unreadable."""
    run_json, cached = run_dir / "run.json", run_dir / "summary.json"
    try:
        if cached.exists() and cached.stat().st_mtime >= run_json.stat().st_mtime:
            data = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == ENTRY_VERSION:
                try:
                    return IndexEntry.model_validate(data)
                except ValidationError:
                    pass                          # an older or damaged summary: read the run itself
        return index_entry(read_run_record(run_json))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
