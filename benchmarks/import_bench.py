"""How long `import chaosrunner` takes, and what it pulls in: the median of N fresh interpreters.

    .venv/bin/python benchmarks/import_bench.py [--runs 21] [--against REV]

``--against REV`` measures a git revision too, in the same run (a temporary worktree), so the
two figures share the machine's load: the ratio is the comparable number on a busy machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("locust", "gevent", "matplotlib", "jinja2", "chaosrunner.report", "chaosrunner.demo", "chaosrunner.traffic",
         "chaosrunner.proxy")
PROBE = ("import json, sys, time; t = time.perf_counter(); import chaosrunner; "
         "print(json.dumps([time.perf_counter() - t, "
         f"sorted({{m for m in sys.modules if m.startswith({HEAVY!r})}})]))")


def measure(tree: Path, runs: int) -> tuple[float, float, list[str]]:
    """(median in-process import time, median wall time of the whole interpreter, heavy modules loaded)."""
    inner, wall, heavy = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
        wall.append(time.perf_counter() - t)
        seconds, heavy = json.loads(out.stdout)
        inner.append(seconds)
    return statistics.median(inner), statistics.median(wall), heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--against", help="a git revision to measure too (e.g. HEAD~5)")
    args = ap.parse_args()
    trees = [("this tree", ROOT)]
    tmp = None
    if args.against:
        tmp = tempfile.TemporaryDirectory()
        subprocess.run(["git", "worktree", "add", "--detach", "-q", tmp.name, args.against], cwd=ROOT, check=True)
        trees.append((args.against, Path(tmp.name)))
    try:
        results = {}
        for _ in range(2):                      # interleaved twice: a load spike hits both
            for name, tree in trees:
                inner, wall, heavy = measure(tree, args.runs // 2 + 1)
                results.setdefault(name, []).append((inner, wall, heavy))
        for name, rows in results.items():
            inner = statistics.median(r[0] for r in rows)
            wall = statistics.median(r[1] for r in rows)
            print(f"{name:>12}: import chaosrunner {inner * 1000:6.0f} ms (interpreter and import "
                  f"{wall * 1000:5.0f} ms); heavy modules loaded: {', '.join(rows[-1][2]) or 'none'}")
        if len(results) == 2:
            a, b = (statistics.median(r[0] for r in rows) for rows in results.values())
            print(f"ratio this tree / {args.against}: {a / b:.2f}")
    finally:
        if tmp is not None:
            subprocess.run(["git", "worktree", "remove", "--force", tmp.name], cwd=ROOT, check=False)
            tmp.cleanup()


if __name__ == "__main__":
    main()
