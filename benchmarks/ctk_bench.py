"""What compatibility mode costs over `chaos run` for the same Chaos Toolkit experiment.

    .venv/bin/python benchmarks/ctk_bench.py [--runs 3] [--fixture 05-range-tolerance.yaml]

Starts the tests' loopback service, then runs the fixture with `chaos run` and with `chaosrunner run`
(both as commands, as a user runs them; chaosrunner with and without the report) `--runs` times each,
and prints the median wall time of each, and of chaosrunner's run alone in-process (chaoslib's run,
the sampling thread, its stop, the run record; no report).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "ctk"), str(ROOT / "tests"), str(ROOT / "tests" / "fixtures" / "ctk")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fixture", default="05-range-tolerance.yaml")
    args = ap.parse_args()
    from conftest import Service  # the tests' loopback service

    service = Service()
    fixture = ROOT / "tests" / "fixtures" / "ctk" / args.fixture
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "fixtures" / "ctk"), "HOME": tmp,
               "CTKFIX_URL": service.url, "CTKFIX_TOKEN": "x", "CHAOSRUNNER_STATE_DIR": tmp}
        os.environ.update({k: v for k, v in env.items() if k.startswith("CTKFIX") or k == "CHAOSRUNNER_STATE_DIR"})
        commands = {
            "chaos run": [str(ROOT / ".venv" / "bin" / "chaos"), "run", "--journal-path", f"{tmp}/j.json"],
            "chaosrunner run": [sys.executable, "-m", "chaosrunner.cli", "run", "--report-dir", f"{tmp}/r", "--json"],
        }
        figures: dict[str, list[float]] = {k: [] for k in commands}
        figures["chaosrunner run_ctk (in-process, no report)"] = []
        from chaosrunner.ctk.run import CtkOptions, run_ctk

        for _ in range(args.runs):
            for name, argv in commands.items():
                service.state = "up"
                started = time.perf_counter()
                subprocess.run([*argv, str(fixture)], env=env, capture_output=True, check=False)
                figures[name].append(time.perf_counter() - started)
            service.state = "up"
            started = time.perf_counter()
            run_ctk(fixture, CtkOptions(report_dir=Path(tmp) / "in", render_report=False, observe_after=0.0))
            figures["chaosrunner run_ctk (in-process, no report)"].append(time.perf_counter() - started)
    service.shutdown()
    print(f"fixture: {args.fixture}, {args.runs} runs each, median wall time")
    for name, values in figures.items():
        print(f"  {name:45s} {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
