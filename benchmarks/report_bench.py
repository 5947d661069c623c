"""Report rendering: a one-hour run sampled every 250 ms with 4 probes, per-second load stats and a writer.

Builds a synthetic but structurally real run.json (real ``Timeline``/``Verdict`` objects), then
times ``render_run`` (read run.json, render report.html, junit.xml, summary.md) and prints the
sizes. Targets: under 5 s, report.html under 3 MB.

    .venv/bin/python benchmarks/report_bench.py [--hours 1] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.timeline import EventKind, LoadStat, Sample, Timeline, WriteRecord

PROBES = ("api-health", "api-configs", "db-role", "p99-latency")
ENDPOINTS = ("GET /configs", "POST /configs", "GET /health")


def build(hours: float, interval: float = 0.25, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    span = hours * 3600.0
    tl = Timeline(clock=lambda: 0.0, wall_clock=lambda: 1_795_000_000.0)
    faults = [(span * f, span * f + 300.0) for f in (0.2, 0.5, 0.8)]
    down = [(a + 1.0, a + 1.0 + 40.0 * (i + 1)) for i, (a, _) in enumerate(faults)]
    tl.event(EventKind.RUN_STARTED, t=0.0, run_id="bench")
    for i, (a, b) in enumerate(faults):
        tl.event(EventKind.FAULT_INJECTED, t=a, fault_id=f"f{i}", target="postgres-primary", type="network")
        tl.event(EventKind.FAULT_REVERTED, t=b, fault_id=f"f{i}", target="postgres-primary", type="network",
                 by="revert")
    tl.event(EventKind.RUN_ENDED, t=span)

    def is_down(t: float) -> bool:
        return any(a <= t < b for a, b in down)

    for p in PROBES:
        for k in range(int(span / interval)):
            t = k * interval
            bad = is_down(t) and p != "db-role" or rnd.random() < 0.001
            tl.add_sample(Sample(p, t, t + 0.004, not bad, None if bad else 200,
                                 "connection refused" if bad else None))
    for s in range(1, int(span) + 1):
        bad = is_down(s)
        for name in ("Aggregated", *ENDPOINTS):
            tl.add_load_stat(LoadStat(float(s), name, 200, 80 if bad else rnd.randint(0, 1), 200.0,
                                      30 + rnd.random() * 5, 80 + rnd.random() * 20,
                                      (900 if bad else 120) + rnd.random() * 60))
    tl.replace_writes(WriteRecord(i, f"k{i}", i / 20, None if is_down(i / 20) else i / 20 + 0.01,
                                  found="missing" if any(a - 0.2 <= i / 20 < a for a, _ in down) else "present")
                      for i in range(int(span * 20)))
    verdicts = [Verdict("steady state before", Status.PASSED, "every probe ok", "all ok"),
                Verdict("rto", Status.FAILED, "≤ 30s", "121s ± 0.25s", "", 121.0, 0.25, "objective"),
                Verdict("rpo", Status.FAILED, "≤ 0s", "0.2s", "", 0.2, None, "objective")]
    windows = [{"index": i, "start": a, "end": b, "targets": ["postgres-primary"], "detection": 1.0,
                "recovery": (d[1] - a) + 0.25, "recovered": True, "resolution": interval, "failover": None}
               for i, ((a, b), d) in enumerate(zip(faults, down, strict=True))]
    return {
        "schema": "chaosrunner/run/v1", "run_id": "20261126T201500Z-bench-0000",
        "experiment": {"name": "bench", "description": "", "hypothesis": "recovers within 30 seconds",
                       "file": "bench.yaml", "kind": "Experiment", "objectives": {"rto": 30.0, "rpo": 0.0}},
        "targets": {"postgres-primary": {"toxiproxy": {"api": "http://127.0.0.1:8474", "proxy": "pg"}}},
        "status": "failed", "exit_code": 1, "started": "2026-11-18T11:06:40.000000Z",
        "ended": "2026-11-18T12:06:40.000000Z", "duration_s": span,
        "sampling": {"interval": interval, "stable_for": 3.0}, "probes": list(PROBES), "abort_reason": None,
        "timeline": tl.to_dict(), "verdicts": [v.to_dict() for v in verdicts],
        "measurements": {"windows": windows, "integrity": {"lost": 12, "rpo": 0.2}, "slo": None},
        "notes": [], "gameday": None, "load": None, "versions": {"chaosrunner": "0.1.0"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--keep", type=Path, help="leave the run folder here instead of a temporary one")
    args = ap.parse_args()
    t0 = time.perf_counter()
    import chaosrunner.report.charts  # noqa: F401  (matplotlib's import is timed separately)
    from chaosrunner.report import render_run
    t_import = time.perf_counter() - t0
    run = build(args.hours)
    tl = run["timeline"]
    run_dir = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(run, indent=1))
    t0 = time.perf_counter()
    json.loads((run_dir / "run.json").read_text())
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = render_run(run_dir)
    t_render = time.perf_counter() - t0
    mb = 1024 * 1024
    print(f"run: {args.hours:g} h, {len(tl['samples'])} samples ({len(PROBES)} probes @ 250 ms), "
          f"{len(tl['load_stats'])} load stats, {len(tl['writes'])} writes, {len(tl['events'])} events")
    print(f"run.json:      {(run_dir / 'run.json').stat().st_size / mb:7.2f} MB (parse {t_parse:.2f} s)")
    print(f"import:        {t_import:7.2f} s (jinja2, matplotlib)")
    print(f"render_run:    {t_render:7.2f} s (read run.json + report.html + junit.xml + summary.md)  target < 5 s")
    print(f"report.html:   {report.stat().st_size / mb:7.2f} MB  target < 3 MB")
    print(f"junit.xml:     {(run_dir / 'junit.xml').stat().st_size / 1024:7.1f} KB")
    print(f"summary.md:    {(run_dir / 'summary.md').stat().st_size / 1024:7.1f} KB")
    if not args.keep:
        shutil.rmtree(run_dir)


if __name__ == "__main__":
    main()
