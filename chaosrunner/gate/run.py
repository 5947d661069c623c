"""The gate's logic: figures of a history row, the baseline (pins, last pass), comparing, running the repeats."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.analyse.regression import (
    FIGURES,
    Comparison,
    Figure,
    Tolerance,
    ToleranceError,
    compare,
    format_value,
    locust_p99_resolution,
    median_figures,
    parse_tolerances,
    regressions,
)
from chaosrunner.analyse.status import RunStatus
from chaosrunner.errors import ConfigError
from chaosrunner.results.document import read_run_record
from chaosrunner.results.history import History, HistoryRow, history_row
from chaosrunner.results.record import RunRecord

LAST_PASS = "last-pass"
_PINS = """CREATE TABLE IF NOT EXISTS gate_baselines (experiment TEXT, file_hash TEXT, run_id TEXT, pinned_at REAL,
                                                 PRIMARY KEY (experiment, file_hash));
CREATE TABLE IF NOT EXISTS gate_outcomes (run_id TEXT PRIMARY KEY, passed INTEGER, at REAL);"""


@dataclass(frozen=True)
class GateRun:
    """One run the gate judges: its record, folder and history row."""

    record: RunRecord
    run_dir: Path
    row: HistoryRow


@dataclass
class GateResult:
    """One experiment gated: its runs, baseline, comparisons and exit code."""

    experiment: str
    runs: list[GateRun]
    figures: dict[str, Figure]
    baseline: HistoryRow | None
    baseline_how: str
    comparisons: list[Comparison] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    score: float | None = None
    min_score: float | None = None
    pinned: bool = False

    @property
    def regressions(self) -> list[Comparison]:
        return regressions(self.comparisons)

    @property
    def below_min_score(self) -> bool:
        return self.min_score is not None and (self.score is None or self.score < self.min_score)

    @property
    def run_exit_code(self) -> int:
        return max(r.record.exit_code for r in self.runs)

    @property
    def exit_code(self) -> int:
        gate = 1 if self.regressions or self.below_min_score else 0
        return max(self.run_exit_code, gate)

    def failure_messages(self) -> list[str]:
        out = [c.message() if not c.note.startswith("measured by the baseline")
               else f"{c.figure} not measured vs baseline {format_value(c.baseline.value, FIGURES[c.figure].unit)} "
                    f"({c.note})" for c in self.regressions]
        if self.below_min_score:
            out.append(f"score {format_value(self.score, 'points')} below the minimum {self.min_score:g}")
        return out

    def summary(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "exit_code": self.exit_code,
                "runs": [r.record.run_id for r in self.runs],
                "baseline": self.baseline.run_id if self.baseline else None, "baseline_how": self.baseline_how,
                "score": self.score, "min_score": self.min_score, "pinned": self.pinned,
                "regressions": self.failure_messages(), "notices": self.notices,
                "figures": [{"figure": c.figure, "baseline": _finite(c.baseline.value), "now": _finite(c.now.value),
                             "baseline_resolution": c.baseline.resolution, "now_resolution": c.now.resolution,
                             "tolerance": c.tolerance.text if c.tolerance else None, "regressed": c.regressed,
                             "compared": c.compared, "note": c.note} for c in self.comparisons]}


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


# -- figures of a history row ---------------------------------------------------------------------------
def figures_of(row: HistoryRow) -> dict[str, Figure]:
    """The gate's figures of one run, from its history row (see ``analyse.regression``)."""
    res = row.resolution or 0.0
    out: dict[str, Figure] = {}
    if row.rto is not None:
        out["rto"] = Figure(row.rto, res)
    elif not row.recovered:
        out["rto"] = Figure(math.inf, res)                    # never recovered: unbounded
    if row.failover is not None:
        out["failover"] = Figure(row.failover, res)
    if row.rpo is not None:
        out["rpo"] = Figure(row.rpo, row.rpo_resolution or 0.0)
    if row.p99 is not None:
        out["p99"] = Figure(row.p99 / 1000.0, locust_p99_resolution(row.p99))
    if row.error_rate_fault is not None:
        out["error_rate"] = Figure(row.error_rate_fault)
    if row.lost is not None:
        out["lost"] = Figure(float(row.lost))
    if row.score is not None:
        out["score"] = Figure(row.score)
    return out


def read_tolerances(text: str | None) -> dict[str, Tolerance]:
    """``--tolerance``, over the defaults; a bad one is a ConfigError (exit 2)."""
    try:
        return parse_tolerances(text)
    except ToleranceError as exc:
        raise ConfigError(str(exc), hint="figures: " + ", ".join(FIGURES) + "; e.g. --tolerance "
                                         "rto=+20%,failover=+20%,p99=+30%,error_rate=+1pt,lost=0") from None


# -- the baseline ---------------------------------------------------------------------------------------
def pin(history: History, row: HistoryRow) -> None:
    """Pin ``row`` as its experiment's baseline (for its file hash)."""
    history.conn.executescript(_PINS)
    history.conn.execute("INSERT OR REPLACE INTO gate_baselines VALUES (?, ?, ?, ?)",
                         (row.experiment, row.file_hash or "", row.run_id, time.time()))


def pinned(history: History, experiment: str, file_hash: str | None) -> str | None:
    history.conn.executescript(_PINS)
    found = history.conn.execute("SELECT run_id FROM gate_baselines WHERE experiment = ? AND file_hash = ?",
                                 (experiment, file_hash or "")).fetchone()
    return str(found[0]) if found else None


def record_outcome(history: History, result: GateResult) -> None:
    """Remember whether each of the gated runs passed: a run that failed its gate is never a baseline."""
    history.conn.executescript(_PINS)
    passed = int(result.exit_code == 0)
    history.conn.executemany("INSERT OR REPLACE INTO gate_outcomes VALUES (?, ?, ?)",
                             [(r.record.run_id, passed, time.time()) for r in result.runs])


def failed_gates(history: History) -> set[str]:
    history.conn.executescript(_PINS)
    return {str(r[0]) for r in history.conn.execute("SELECT run_id FROM gate_outcomes WHERE passed = 0")}


def _row_of(history: History, run_id: str) -> HistoryRow | None:
    return next((r for r in history.rows() if r.run_id == run_id or r.run_dir == run_id), None)


def check_baseline(reports_dir: Path, baseline: str | None, experiments: Sequence[str]) -> None:
    """A ``--baseline`` must be a run of (one of) ``experiments`` before anything runs (exit 2 otherwise)."""
    if baseline in (None, LAST_PASS):
        return
    path = Path(str(baseline))
    if path.exists():
        try:
            name = read_run_record(path).experiment.name
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--baseline {baseline}: not a run folder or run.json "
                              f"({' '.join(str(exc).split())[:200]})",
                              hint="give a run folder (reports/<run-id>), its run.json, a run id, "
                                   "or last-pass") from None
    else:
        with History.open(reports_dir) as history:
            row = _row_of(history, str(baseline))
            if row is None:
                raise ConfigError(f"--baseline {baseline}: no such run in {history.path} and no such file",
                                  hint="give a run id from the history (chaosrunner report index lists them), "
                                       "a run folder, or last-pass")
            name = row.experiment
    if name not in experiments:
        raise ConfigError(f"--baseline {baseline} is a run of {name!r}, not of {', '.join(map(repr, experiments))}",
                          hint="give a run of the same experiment")


def find_baseline(history: History, now: HistoryRow, baseline: str | None,
                  exclude: Sequence[str] = ()) -> tuple[HistoryRow | None, str]:
    """The baseline row for ``now`` and how it was chosen (see the module docstring)."""
    if baseline not in (None, LAST_PASS):
        assert baseline is not None
        path = Path(baseline)
        if path.exists():
            try:
                record = read_run_record(path)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--baseline {baseline}: not a run folder or run.json ({exc})",
                                  hint="give a run folder (reports/<run-id>), its run.json, a run id, "
                                       "or last-pass") from None
            row = history_row(record, path if path.is_dir() else path.parent)
            how = f"the run in {baseline}"
        else:
            found = _row_of(history, baseline)
            if found is None:
                raise ConfigError(f"--baseline {baseline}: no such run in {history.path} and no such file",
                                  hint="give a run id from the history (chaosrunner report index lists them), "
                                       "a run folder, or last-pass")
            row, how = found, f"run {baseline} (given)"
        if row.experiment != now.experiment:
            raise ConfigError(f"--baseline {baseline} is a run of {row.experiment!r}, not of {now.experiment!r}",
                              hint="give a run of the same experiment")
        return row, how
    if baseline is None:
        pin_id = pinned(history, now.experiment, now.file_hash)
        if pin_id is not None and pin_id not in exclude:
            pinned_row = _row_of(history, pin_id)
            if pinned_row is not None:
                return pinned_row, f"run {pin_id} (pinned with --update-baseline)"
    failed = failed_gates(history)
    for row in history.rows(now.experiment):
        if row.run_id in exclude or row.run_id == now.run_id or row.status is not RunStatus.HELD:
            continue
        if row.run_id in failed:                # it held, but regressed: never a baseline
            continue
        if row.file_hash != now.file_hash:
            continue
        if now.started_ts is not None and row.started_ts is not None and row.started_ts > now.started_ts:
            continue
        return row, f"run {row.run_id} (the last passing run of this experiment and file)"
    return None, ""


# -- the gate -------------------------------------------------------------------------------------------
def gate_runs(runs: list[GateRun], history: History, *, baseline: str | None = None,
              tolerances: dict[str, Tolerance] | None = None, min_score: float | None = None,
              update_baseline: bool = False) -> GateResult:
    """Compare ``runs`` (repeats of one experiment; one usually) with the baseline, pin when asked or when
    there is none. Writes nothing into the run folders (``write_gate_outputs`` does)."""
    tolerances = tolerances if tolerances is not None else read_tolerances(None)
    rows = [r.row for r in runs]
    figures = median_figures([figures_of(r) for r in rows]) if len(rows) > 1 else figures_of(rows[0])
    now = rows[-1]
    base, how = find_baseline(history, now, baseline, exclude=[r.run_id for r in rows])
    result = GateResult(experiment=now.experiment, runs=runs, figures=figures, baseline=base, baseline_how=how,
                        score=figures["score"].value if "score" in figures else None, min_score=min_score)
    if len(runs) > 1:
        result.notices.append(f"now = the median of {len(runs)} runs ({', '.join(r.run_id for r in rows)})")
    if base is None:
        result.notices.append("no baseline: no earlier run of this experiment and file held; the gate passes, "
                              "and this run (when it held) is the next gate's baseline")
    else:
        if base.file_hash != now.file_hash:
            result.notices.append(f"the baseline ran another version of the file ({(base.file_hash or '?')[:12]} "
                                  f"vs {(now.file_hash or '?')[:12]})")
        result.comparisons = compare(figures_of(base), figures, tolerances)
    record_outcome(history, result)
    held = [r for r in rows if r.status is RunStatus.HELD]
    if update_baseline:
        if held:
            chosen = representative(held, figures)
            pin(history, chosen)
            result.pinned = True
            result.notices.append(f"pinned run {chosen.run_id} as the baseline of {now.experiment}")
        else:
            result.notices.append("--update-baseline: not pinned, no run held")
    return result


def representative(rows: Sequence[HistoryRow], figures: dict[str, Figure]) -> HistoryRow:
    """Of several repeats, the run closest to the medians (the sum of its figures' relative distances)."""
    def distance(row: HistoryRow) -> float:
        mine = figures_of(row)
        total = 0.0
        for name, median in figures.items():
            value = mine.get(name, Figure(None)).value
            if value is None or median.value is None or not math.isfinite(value) or not math.isfinite(median.value):
                continue
            total += abs(value - median.value) / max(abs(median.value), 1e-9)
        return total
    return min(reversed(rows), key=distance)


def read_run(run_dir: Path | str) -> GateRun:
    """A finished run for ``--run-dir``: its record and history row; exit 2 when it is not a run folder."""
    run_dir = Path(run_dir)
    try:
        record = read_run_record(run_dir)
    except FileNotFoundError:
        raise ConfigError(f"--run-dir {run_dir}: no run.json there",
                          hint="give a run folder, e.g. reports/<run-id>") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--run-dir {run_dir}: run.json is not a run record ({' '.join(str(exc).split())[:200]})",
                          hint="give a run folder written by chaosrunner run") from None
    return GateRun(record, run_dir.resolve(), history_row(record, run_dir))


def run_experiments(file: Path, *, targets: Path | None, variables: dict[str, str], only: str | None,
                    repeat: int, make_options: Callable[[], Any], stopped: Callable[[], bool] = lambda: False,
                    check: Callable[[list[str]], None] = lambda names: None) -> dict[str, list[GateRun]]:
    """Run each experiment of ``file`` ``repeat`` times (planned first, and ``check``-ed with their names:
    nothing runs if one is invalid)."""
    from chaosrunner import api

    if api.file_kind(file) == "GameDay":
        raise ConfigError(f"{file}: gate takes experiment files; this is a game day (kind: GameDay)",
                          hint="gate the experiments it runs, or run it with chaosrunner gameday run")
    plans = api.plan(file, targets, variables, only)
    check([p.name for p in plans])
    out: dict[str, list[GateRun]] = {}
    for p in plans:
        for _ in range(repeat):
            if stopped():
                return out
            result = api.run_plan(p, make_options())
            record = result.record if result.record is not None else read_run_record(result.run_dir)
            out.setdefault(p.name, []).append(GateRun(record, result.run_dir, history_row(record, result.run_dir)))
            if result.status in (RunStatus.ABORTED, RunStatus.REVERT_FAILED):
                break                     # a repeat after an abort or a fault left in place: no
    return out


