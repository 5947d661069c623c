"""The gate's own cost: finding the baseline and comparing, over a history of 1,000 runs (target: well under 1 s).

    .venv/bin/python benchmarks/gate_bench.py [--runs 1000] [--experiments 5]

Fills a history.sqlite with ``--runs`` rows (the records of ``history_bench.build``: one run an hour,
``--experiments`` experiments taking turns, a tenth failing), records a failed gate for every
twentieth run, then times, 20 times each: ``find_baseline`` for the newest run (last pass, skipping
runs that failed a gate), ``gate_runs`` with one run and with three (the median), and
``score_run`` of one record. Prints the median and the worst of each.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from history_bench import build  # noqa: E402

from chaosrunner.analyse.score import score_run  # noqa: E402
from chaosrunner.gate import GateRun, find_baseline, gate_runs  # noqa: E402
from chaosrunner.results.history import History, history_row  # noqa: E402


def timed(fn, repeat: int = 20) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--experiments", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp)
        records = [build(i, args.experiments) for i in range(args.runs)]
        with History.open(reports) as history:
            t = time.perf_counter()
            for r in records:
                history.add(history_row(r))
            fill = time.perf_counter() - t
            history.conn.execute("CREATE TABLE IF NOT EXISTS gate_outcomes (run_id TEXT PRIMARY KEY, passed INTEGER, "
                                 "at REAL)")
            history.conn.executemany("INSERT OR REPLACE INTO gate_outcomes VALUES (?, 0, 0)",
                                     [(r.run_id,) for r in records[::20]])
            newest = records[-1]
            row = history_row(newest)
            one = [GateRun(newest, reports, row)]
            three = [GateRun(r, reports, history_row(r)) for r in records[-3 * args.experiments::args.experiments]]
            print(f"history of {args.runs} runs ({args.experiments} experiments) filled in {fill:.2f} s")
            for what, fn in (("find_baseline (last pass)", lambda: find_baseline(history, row, None, [row.run_id])),
                             ("gate_runs, 1 run", lambda: gate_runs(one, history)),
                             ("gate_runs, 3 runs (median)", lambda: gate_runs(three, history)),
                             ("score_run, 1 record", lambda: score_run(newest))):
                med, worst = timed(fn)
                print(f"{what:28s} median {med * 1000:7.2f} ms   worst {worst * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
