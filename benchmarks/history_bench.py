"""The history of runs: ``report index`` over 1,000 runs (target: under 2 s), and what recording and rebuilding cost.

    .venv/bin/python benchmarks/history_bench.py [--runs 1000] [--experiments 5] [--keep DIR]

Builds ``--runs`` run folders (a real run.json each, written by ``write_run_json``, and its history
row by ``record_run``: what every run does), ``--experiments`` experiments taking turns, one run an
hour, a tenth of them failing; then times, each in a fresh interpreter-free call:
``render_index`` with the history present (what ``chaosrunner report index`` does), the same after
deleting history.sqlite (rebuilt from each folder's history.json), and after deleting those too
(rebuilt from every run.json).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.results import RunRecord, write_run_json
from chaosrunner.results.history import HISTORY_FILE, ROW_FILE, History, record_run
from chaosrunner.results.record import (
    ExperimentInfo,
    IntegrityMeasurement,
    Measurements,
    SloWindow,
    WindowMeasurement,
)


def build(i: int, experiments: int) -> RunRecord:
    name = f"experiment-{i % experiments}"
    started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i)
    status = RunStatus.FAILED if i % 10 == 7 else RunStatus.HELD
    rto = 2.0 + (i % 13) * 0.4
    return RunRecord(
        run_id=f"{started:%Y%m%dT%H%M%SZ}-{name}-{i:04x}",
        experiment=ExperimentInfo(name=name, file=f"experiments/{name}.yaml", raw={"name": name}),
        status=status, exit_code=status.exit_code, started=started, ended=started + timedelta(seconds=90),
        duration_s=90.0,
        verdicts=[Verdict("rto", Status.FAILED if status is RunStatus.FAILED else Status.PASSED, "≤ 5s",
                          f"{rto:.1f}s"),
                  Verdict("steady state after", Status.PASSED, "every probe ok", "all ok")],
        measurements=Measurements(
            windows=[WindowMeasurement(window=0, t0=20.0, reverted_at=50.0, detected=True, detection_time=0.5,
                                       recovered=True, recovery_time=rto)],
            integrity=IntegrityMeasurement(rpo=0.1 * (i % 5), lost=i % 5),
            slo={"fault": SloWindow(p99=300.0 + (i % 17) * 20, error_rate=0.01)}),
        versions={"chaosrunner": "0.1.0"})


def timed_index(reports: Path) -> tuple[float, float]:
    """``chaosrunner report index`` as a person runs it (a fresh process; imports included): wall and CPU seconds.

    The CPU time (user + system of the child) is the figure that does not depend on what else the
    shared machine is doing."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chaosrunner", "report", "index", str(reports)], check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def in_process_index(reports: Path) -> float:
    from chaosrunner.report import render_index

    t0 = time.perf_counter()
    render_index(reports)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--experiments", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="build the runs here and keep them")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="history-bench-"))
    reports = base / "reports"
    try:
        t0 = time.perf_counter()
        per_run = []
        for i in range(args.runs):
            rec = build(i, args.experiments)
            d = reports / rec.run_id
            write_run_json(d, rec)
            t1 = time.perf_counter()
            record_run(d, rec, schedule_entry="monthly" if i % 2 else None)
            per_run.append(time.perf_counter() - t1)
        built = time.perf_counter() - t0
        with History.open(reports) as h:
            assert len(h.run_ids()) == args.runs
        in_process_index(reports)                           # warm: imports, matplotlib's font cache
        warm = [in_process_index(reports) for _ in range(3)]
        cli = [timed_index(reports) for _ in range(3)]
        for suffix in ("", "-wal", "-shm"):
            Path(str(reports / HISTORY_FILE) + suffix).unlink(missing_ok=True)
        rebuilt_rows = timed_index(reports)
        for f in reports.glob(f"*/{ROW_FILE}"):
            f.unlink()
        for suffix in ("", "-wal", "-shm"):
            Path(str(reports / HISTORY_FILE) + suffix).unlink(missing_ok=True)
        rebuilt_json = timed_index(reports)
        html = (reports / "index.html").stat().st_size
        print(f"runs in the history:                 {args.runs} ({args.experiments} experiments)")
        print(f"record_run per run (median, max):    {statistics.median(per_run) * 1000:.1f} ms, "
              f"{max(per_run) * 1000:.1f} ms   (building all: {built:.1f} s)")
        print(f"render_index, in process (median):   {statistics.median(warm):.2f} s")
        print(f"`chaosrunner report index` (median): {statistics.median(w for w, _ in cli):.2f} s wall, "
              f"{statistics.median(c for _, c in cli):.2f} s CPU   (target < 2 s; a fresh process, imports included)")
        print(f"  history missing, rebuilt from history.json files: {rebuilt_rows[0]:.2f} s wall, "
              f"{rebuilt_rows[1]:.2f} s CPU")
        print(f"  history and history.json missing, from run.json:  {rebuilt_json[0]:.2f} s wall, "
              f"{rebuilt_json[1]:.2f} s CPU")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"index.html:                          {html / 1e6:.2f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
