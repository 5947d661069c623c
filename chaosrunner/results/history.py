"""The history of every run: one row per run in ``<reports>/history.sqlite`` (SQLite, WAL, one transaction per row).

Every run adds its row when its run.json is written (``record_run``), scheduled or not; the index of
runs (``report index``) and the scheduler read it instead of parsing every run.json again. A row holds
what a trend needs: run id, experiment (or game day), the hash of the experiment as written, the
schedule entry that fired it, start, duration, status and exit code, the headline figures (RTO,
failover, RPO, lost writes, p99 and error rate per SLO window), the chaosrunner version and the git
commit of the experiment file when it is in a repository. The scheduler's decisions (fired,
skipped and why, finished) are kept beside the runs (``schedule_events``).

Figures, defined once here (the index shows them as they are):
- RTO = the longest recovery over a run's fault windows; a window that never recovered makes it
  unbounded (``rto`` null, ``recovered`` false), never the largest finite value.
- p99 (the index's) = the fault window's p99 as the run measured it, else the worst per-second
  p99 of the load during the fault windows.
- ``resolution`` = the sampling interval (the ± of RTO and failover); ``rpo_resolution`` = one write
  interval (the ± of RPO); ``score`` = the run's resilience score (``analyse.score``).
- ``file_hash`` = sha256 of the experiment as written (run.json's ``experiment.raw`` as canonical
  JSON), so a history rebuilt from the run folders holds the same value.

The database is derived data: when it is missing or corrupt it is rebuilt from the run folders
(each keeps its row as ``history.json`` beside run.json, with what run.json cannot say — the
schedule entry, the git commit); a corrupt file is moved aside, never deleted. A history written by
an older version keeps its rows, and gains the columns it lacks (empty for those rows). Runs that
finish at once each commit their own row (``BEGIN IMMEDIATE`` with a busy timeout): none is lost. A failure to
write the history never fails a run: ``record_run`` warns and returns None.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from chaosrunner.analyse.score import score_run
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status
from chaosrunner.results.record import RunRecord, WindowMeasurement
from chaosrunner.timeline import fault_windows

HISTORY_FILE = "history.sqlite"
ROW_FILE = "history.json"
SCHEDULE_ENTRY_ENV = "CHAOSRUNNER_SCHEDULE_ENTRY"
"""Set by the scheduler for the runs it starts: the entry's name lands in their history rows."""
BUSY_TIMEOUT = 60.0
SLO_WINDOWS = ("baseline", "fault", "recovery")


class HistoryRow(BaseModel):
    """One run in the history (flat, JSON-safe)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    experiment: str
    kind: str = "Experiment"
    file: str | None = None
    file_hash: str | None = None
    schedule_entry: str | None = None
    started: str | None = None
    started_ts: float | None = None
    duration_s: float | None = None
    status: RunStatus
    exit_code: int
    rto: float | None = None
    recovered: bool = True
    failover: float | None = None
    rpo: float | None = None
    lost: int | None = None
    p99: float | None = None
    p99_baseline: float | None = None
    p99_fault: float | None = None
    p99_recovery: float | None = None
    error_rate_baseline: float | None = None
    error_rate_fault: float | None = None
    error_rate_recovery: float | None = None
    resolution: float | None = None
    rpo_resolution: float | None = None
    score: float | None = None
    verdicts: dict[str, int] = {}
    failed: list[str] = []
    version: str | None = None
    git_commit: str | None = None
    run_dir: str = ""


COLUMNS = list(HistoryRow.model_fields)
_JSON_COLUMNS = {"verdicts", "failed"}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs ({", ".join(c + (" TEXT PRIMARY KEY" if c == "run_id" else "") for c in COLUMNS)},
                                 recorded_at REAL);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ts);
CREATE TABLE IF NOT EXISTS schedule_events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, entry TEXT,
    decision TEXT, reason TEXT, run_id TEXT, status TEXT, exit_code INTEGER, jitter_s REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


# -- the figures of one run ---------------------------------------------------------------------------
def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def fault_windows_of(record: RunRecord) -> list[WindowMeasurement]:
    """Its fault windows with their measurements (``measurements.windows``, else the bare windows of the events)."""
    if record.measurements.windows:
        return list(record.measurements.windows)
    return [WindowMeasurement(window=w.index, t0=w.start, reverted_at=w.end, targets=list(w.targets))
            for w in fault_windows(record.timeline.events)]


def _fault_p99(record: RunRecord, windows: list[WindowMeasurement]) -> float | None:
    fault = (record.measurements.slo or {}).get("fault")
    if fault is not None and _finite(fault.p99) is not None:
        return _finite(fault.p99)
    stats = [s for s in record.timeline.load_stats if s.name == "Aggregated"]
    spans = [(w.t0, w.reverted_at) for w in windows]
    if spans:
        stats = [s for s in stats if any(a <= s.t <= (b if b is not None else math.inf) for a, b in spans)]
    values = [p for p in (_finite(s.p99) for s in stats) if p is not None]
    return max(values) if values else None


def experiment_hash(record: RunRecord) -> str:
    raw = json.dumps(record.experiment.raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def git_commit(file: str | None) -> str | None:
    """The last commit that touched ``file`` when it is in a git repository (None otherwise)."""
    if not file:
        return None
    path = Path(file)
    if not path.is_file():
        return None
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%H", "--", path.name], cwd=path.parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def history_row(record: RunRecord, run_dir: Path | str = "", schedule_entry: str | None = None,
                commit: str | None = None) -> HistoryRow:
    """The history row of one run (pure: no file is read)."""
    windows = fault_windows_of(record)
    judged = [w for w in windows if w.measured is not False]
    recovered = all(w.recovered is not False and (w.recovery_time is not None or w.detection_time is None)
                    for w in judged)
    finite = [r for r in (_finite(w.recovery_time) for w in judged) if r is not None]
    failovers = [f for f in (_finite(w.failover) for w in judged) if f is not None]
    integ = record.measurements.integrity
    slo = record.measurements.slo or {}
    started = record.started
    per_window: dict[str, float | None] = {}
    for name in SLO_WINDOWS:
        w = slo.get(name)
        per_window[f"p99_{name}"] = _finite(w.p99) if w is not None else None
        per_window[f"error_rate_{name}"] = _finite(w.error_rate) if w is not None else None
    counts: dict[str, int] = {}
    for verdict in record.verdicts:
        counts[verdict.status.value] = counts.get(verdict.status.value, 0) + 1
    return HistoryRow(
        run_id=record.run_id, experiment=record.experiment.name or "?", kind=record.experiment.kind,
        file=record.experiment.file, file_hash=experiment_hash(record), schedule_entry=schedule_entry,
        started=started.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if started is not None else None,
        started_ts=started.timestamp() if started is not None else None,
        duration_s=_finite(record.duration_s), status=record.status, exit_code=record.exit_code,
        rto=max(finite, default=None) if recovered else None, recovered=recovered,
        failover=max(failovers, default=None),
        rpo=_finite(integ.rpo) if integ is not None else None, lost=integ.lost if integ is not None else None,
        p99=_fault_p99(record, windows), **per_window,
        resolution=_finite(record.sampling.interval) if record.sampling is not None else None,
        rpo_resolution=_finite(integ.resolution) if integ is not None else None,
        score=score_run(record).value, verdicts=counts,
        failed=[x.name for x in record.verdicts if x.status is Status.FAILED],
        version=record.versions.get("chaosrunner"), git_commit=commit, run_dir=Path(run_dir).name)


# -- the database -------------------------------------------------------------------------------------
class History:
    """``<reports>/history.sqlite``: open with ``History.open(reports_dir)`` (rebuilt first when missing or corrupt)."""

    def __init__(self, reports_dir: Path, conn: sqlite3.Connection):
        self.reports_dir = reports_dir
        self.path = reports_dir / HISTORY_FILE
        self.conn = conn

    @classmethod
    def open(cls, reports_dir: Path | str, *, sync: bool = False) -> History:
        """The history of ``reports_dir``; ``sync``: also add the run folders it does not hold yet."""
        reports_dir = Path(reports_dir)
        reports_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(reports_dir / (HISTORY_FILE + ".lock")):
            try:
                conn = _connect(reports_dir / HISTORY_FILE)
            except sqlite3.OperationalError:
                raise                         # locked, unreadable, no space: not the file's fault; keep it
            except sqlite3.DatabaseError as exc:
                _move_aside(reports_dir / HISTORY_FILE, exc)
                conn = _connect(reports_dir / HISTORY_FILE)
            history = cls(reports_dir, conn)
            built = conn.execute("SELECT value FROM meta WHERE key = 'built'").fetchone()
            if built is None or sync:
                history.add_missing_folders()
                if built is None:
                    with history._write() as c:
                        c.execute("INSERT OR REPLACE INTO meta VALUES ('built', ?)", (str(time.time()),))
        return history

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def add(self, row: HistoryRow) -> None:
        values = [json.dumps(v) if k in _JSON_COLUMNS else (v.value if isinstance(v, RunStatus) else v)
                  for k, v in row.model_dump().items()]
        with self._write() as c:
            c.execute(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}, recorded_at) "
                      f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})", [*values, time.time()])

    def rows(self, experiment: str | None = None) -> list[HistoryRow]:
        """Every run, newest first."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM runs"
        args: tuple[Any, ...] = ()
        if experiment is not None:
            sql, args = sql + " WHERE experiment = ?", (experiment,)
        out = []
        for values in self.conn.execute(sql + " ORDER BY started DESC, run_id DESC", args):
            data = dict(zip(COLUMNS, values, strict=True))
            for k in _JSON_COLUMNS:
                data[k] = json.loads(data[k]) if data[k] else ({} if k == "verdicts" else [])
            out.append(HistoryRow.model_validate(data))
        return out

    def run_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT run_id FROM runs")}

    def add_missing_folders(self) -> int:
        """Add every run folder (``*/run.json``) the history does not hold; returns how many were added."""
        known = self.run_ids()
        dirs = {r[0] for r in self.conn.execute("SELECT run_dir FROM runs")}
        added = 0
        for run_json in sorted(self.reports_dir.glob("*/run.json")):
            if run_json.parent.name in dirs or run_json.parent.name in known:
                continue
            row = read_folder_row(run_json.parent)
            if row is not None and row.run_id not in known:
                self.add(row)
                known.add(row.run_id)
                added += 1
        return added

    def schedule_event(self, entry: str, decision: str, reason: str = "", run_id: str | None = None,
                       status: str | None = None, exit_code: int | None = None, jitter_s: float | None = None,
                       at: float | None = None) -> None:
        with self._write() as c:
            c.execute("INSERT INTO schedule_events (at, entry, decision, reason, run_id, status, exit_code, jitter_s) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (at if at is not None else time.time(), entry, decision, reason, run_id, status, exit_code,
                       jitter_s))

    def schedule_events(self, entry: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, entry, decision, reason, run_id, status, exit_code, jitter_s FROM schedule_events"
        args: tuple[Any, ...] = ()
        if entry is not None:
            sql, args = sql + " WHERE entry = ?", (entry,)
        cols = ("at", "entry", "decision", "reason", "run_id", "status", "exit_code", "jitter_s")
        return [dict(zip(cols, r, strict=True)) for r in self.conn.execute(sql + " ORDER BY id", args)]


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("quick_check failed")
        conn.executescript(_SCHEMA)
        # a history written by an older version: its rows are kept (a CI cache may hold the only copy of
        # its baselines), the new columns added empty
        have = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        for column in [c for c in COLUMNS if c not in have]:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    except BaseException:
        conn.close()
        raise
    return conn


def _move_aside(path: Path, exc: Exception) -> None:
    """A corrupt (or foreign) database is kept for a human as ``history.sqlite.corrupt-<time>``, then rebuilt."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(aside) + suffix))
    print(f"chaosrunner: {path} could not be read ({exc}); moved to {aside.name}, rebuilding it from the "
          f"run folders", file=sys.stderr)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_folder_row(run_dir: Path) -> HistoryRow | None:
    """A run folder's row: its ``history.json`` when it is newer than run.json, else built from run.json."""
    from chaosrunner.results.document import read_run_record

    run_json, kept = run_dir / "run.json", run_dir / ROW_FILE
    try:
        if kept.exists() and kept.stat().st_mtime >= run_json.stat().st_mtime:
            try:
                return HistoryRow.model_validate_json(kept.read_text(encoding="utf-8"))
            except ValueError:
                pass
        return history_row(read_run_record(run_json), run_dir)
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def record_run(run_dir: Path | str, record: RunRecord, schedule_entry: str | None = None) -> HistoryRow | None:
    """Add a finished run to its reports folder's history (``run_dir.parent``), and keep its row beside run.json.

    Never raises: the history is derived data, and a run's outcome must not depend on it."""
    run_dir = Path(run_dir)
    try:
        row = history_row(record, run_dir, schedule_entry or os.environ.get(SCHEDULE_ENTRY_ENV) or None,
                          git_commit(record.experiment.file))
        tmp = run_dir / (ROW_FILE + ".tmp")
        tmp.write_text(row.model_dump_json(), encoding="utf-8")
        os.replace(tmp, run_dir / ROW_FILE)
        with History.open(run_dir.parent) as history:
            history.add(row)
        return row
    except Exception as exc:  # noqa: BLE001 - the history must never fail a run
        print(f"chaosrunner: the run was not added to the history: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
