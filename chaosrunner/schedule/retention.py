"""``retention``: pruning an entry's oldest run folders; the history keeps every row.

Kept: the newest ``keep_last`` runs of the entry, and the newest ``keep_failed`` of those that did
not hold. Only runs the entry started are considered (their history rows name it), so a run
started by hand is never pruned by a schedule.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from chaosrunner.analyse.status import RunStatus
from chaosrunner.results.history import History
from chaosrunner.schedule.model import Retention


def prune(report_dir: Path, entry: str, keep: Retention) -> int:
    """Delete the run folders of ``entry`` that ``keep`` does not keep; returns how many were deleted."""
    with History.open(report_dir) as h:
        rows = [r for r in h.rows() if r.schedule_entry == entry]        # newest first
    kept = {r.run_id for r in rows[:keep.keep_last]}
    kept |= {r.run_id for r in [r for r in rows if r.status is not RunStatus.HELD][:keep.keep_failed]}
    pruned = 0
    for r in rows:
        folder = report_dir / (r.run_dir or r.run_id)
        if r.run_id not in kept and folder.is_dir() and (folder / "run.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            pruned += 1
    return pruned
