"""The scheduler's state in the state dir: the lock one scheduler holds, and each entry's last fire.

The lock (``schedules/scheduler.lock``, ``flock``) keeps a second scheduler on the same state dir
from firing every entry again; the kernel drops it with its holder, so a killed scheduler leaves
nothing to clean. The last fires (``schedules/fires-<file>.json``, written atomically) tell a
scheduler that starts again which fires it missed (``missed: skip | run-once``).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from chaosrunner.errors import ChaosRunnerError


class SchedulerBusy(ChaosRunnerError):
    """Another scheduler holds the state dir's lock."""

    exit_code = 2


def acquire_lock(state: Path) -> IO[str]:
    """Hold ``state/scheduler.lock`` (with this pid in it) until the returned file is closed."""
    state.mkdir(parents=True, exist_ok=True)
    fh = open(state / "scheduler.lock", "a+")  # noqa: SIM115 - held for the scheduler's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise SchedulerBusy(f"another scheduler (pid {holder}) holds {state / 'scheduler.lock'}: two "
                            f"schedulers on one state dir would fire every entry twice\n  hint: stop it, or "
                            f"give this one its own CHAOSRUNNER_STATE_DIR") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def fires_file(state: Path, schedules: Path) -> Path:
    key = hashlib.sha256(str(schedules.resolve()).encode()).hexdigest()[:16]
    return state / f"fires-{key}.json"


def last_fires(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(path: Path, entry: str, at: datetime) -> None:
    data = last_fires(path)
    data[entry] = at.astimezone(UTC).isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
