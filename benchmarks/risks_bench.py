"""The risk register over many runs: `chaosrunner risks` and `report index` with its register view.

    .venv/bin/python benchmarks/risks_bench.py [--runs 1000] [--keep DIR]

Builds ``--runs`` run folders (a real run.json each and its history row, as every run writes them)
of the ready experiments that declare risks (database-failure, region-partition, memory-pressure,
cascading-failure, db-failover-sync), one an hour, a tenth failing, each recording the risks its file
declares; then times, each in a fresh process (imports included), `chaosrunner risks` on the shipped
register and `chaosrunner report index` without a register and with it (the heat map, coverage and
risk score read the history plus the newest run.json of each experiment).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from history_bench import build  # noqa: E402

from chaosrunner.results import write_run_json  # noqa: E402
from chaosrunner.results.history import record_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {"database-failure": ["INFRA-001"], "region-partition": ["INFRA-002", "INFRA-003"],
            "memory-pressure": ["APP-001"], "cascading-failure": ["APP-002"], "db-failover-sync": ["INFRA-001"]}


def timed(*args: str) -> tuple[float, float]:
    """A fresh ``chaosrunner`` process: wall and CPU seconds (the CPU figure does not depend on the shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chaosrunner", *args], check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--keep", type=Path, default=None, help="build the runs here and keep them")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="risks-bench-"))
    reports = base / "reports"
    names = list(DECLARED)
    try:
        for i in range(args.runs):
            rec = build(i, len(names))
            name = names[i % len(names)]
            rec = rec.model_copy(update={
                "run_id": rec.run_id.replace(rec.experiment.name, name),
                "experiment": rec.experiment.model_copy(update={"name": name, "risks": DECLARED[name],
                                                                "file": f"experiments/{name}.yaml"})})
            d = reports / rec.run_id
            write_run_json(d, rec)
            record_run(d, rec)
        register = str(ROOT / "risks.yaml")
        risks = [timed("risks", "--register", register, "--reports", str(reports)) for _ in range(3)]
        plain = [timed("report", "index", str(reports)) for _ in range(3)]
        with_register = [timed("report", "index", str(reports), "--register", register) for _ in range(3)]

        def show(label: str, xs: list[tuple[float, float]]) -> None:
            print(f"{label:<44} {statistics.median(w for w, _ in xs):.2f} s wall, "
                  f"{statistics.median(c for _, c in xs):.2f} s CPU (median of 3)")

        print(f"runs in the history: {args.runs} ({len(names)} experiments declaring risks)")
        show("`chaosrunner risks`", risks)
        show("`report index` (no register view)", plain)
        show("`report index --register risks.yaml`", with_register)
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
