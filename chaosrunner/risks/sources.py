"""What coverage is computed from: the experiments' declarations and the runs in a reports folder.

The runs come from the reports folder's history (``reports/history.sqlite``, ``results.history``;
run folders it lacks are added first). For each experiment, the newest run's ``run.json`` is read
too: the risks it recorded, and the measured figures of the seed's risk score (``risks.riskscore``).
"""
from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chaosrunner.results.history import History, HistoryRow, read_folder_row
from chaosrunner.results.record import RunRecord
from chaosrunner.risks.coverage import Declaration, RunFact
from chaosrunner.risks.declared import declared_in


@dataclass
class Sources:
    declared: list[Declaration]
    runs: list[RunFact]
    rows: list[HistoryRow] = field(default_factory=list)            # newest first
    latest: dict[str, RunRecord] = field(default_factory=dict)      # experiment → its newest readable record


def parse_started(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def history_rows(reports_dir: Path) -> list[HistoryRow]:
    """Every run of the reports folder, newest first (an empty list for a folder that does not exist)."""
    if not reports_dir.is_dir():
        return []
    if not (reports_dir / "history.sqlite").exists() and next(reports_dir.glob("*/run.json"), None) is None:
        return []                      # no run yet: nothing to read, and no history to create
    try:
        with History.open(reports_dir, sync=True) as history:
            return history.rows()
    except (sqlite3.Error, OSError) as exc:
        print(f"chaosrunner: the history of {reports_dir} cannot be used ({exc}); reading the run folders",
              file=sys.stderr)
        found = (read_folder_row(d.parent) for d in sorted(reports_dir.glob("*/run.json")))
        return sorted((r for r in found if r is not None), key=lambda r: (r.started or "", r.run_id), reverse=True)


def latest_records(reports_dir: Path, rows: list[HistoryRow]) -> dict[str, RunRecord]:
    """The newest readable run.json of each experiment."""
    from chaosrunner.results.document import read_run_record

    out: dict[str, RunRecord] = {}
    for row in rows:
        if row.experiment in out:
            continue
        path = reports_dir / (row.run_dir or row.run_id) / "run.json"
        try:
            out[row.experiment] = read_run_record(path)
        except (OSError, ValueError):
            continue                      # pruned, or unreadable: the history row still counts
    return out


def gather(reports_dir: Path, folders: list[Path]) -> Sources:
    declared = [Declaration(d.name, d.kind, str(d.file), d.risks) for d in declared_in(folders)]
    rows = history_rows(reports_dir)
    latest = latest_records(reports_dir, rows)
    runs = [RunFact(run_id=r.run_id, experiment=r.experiment, started=parse_started(r.started), status=r.status,
                    risks=tuple(latest[r.experiment].experiment.risks)
                    if r.experiment in latest and latest[r.experiment].run_id == r.run_id else (),
                    run_dir=r.run_dir or r.run_id)
            for r in rows]
    return Sources(declared, runs, rows, latest)
