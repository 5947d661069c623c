"""The fault ledger: every fault is written down (fsync) before it is injected, struck off after revert.

One JSON file per active fault under ``<state dir>/ledger/``, written to a temporary name,
fsynced and renamed (then the directory fsynced), so that a crash at any instant leaves
either no entry or a whole one. After a crash or ``kill -9``, ``chaosrunner recover`` reverts
what is left; ``run`` refuses to start while entries of dead runs (orphans) exist.
The state dir is ``$CHAOSRUNNER_STATE_DIR``, else ``~/.local/state/chaosrunner``.

No secret is ever written here (an entry outlives a ``kill -9``): the ledger is given the run's
``Secrets`` and writes the plan and the handle with each secret value as the reference it came
from (``${env:TOKEN}``, ``${file:/abs/path}``; ``Secrets.referenced_obj``), marked ``"refs": 1``.
``Entry.resolved`` resolves them again, with this process' environment and files, when
``recover`` needs the values.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from chaosrunner.drivers.base import Handle
from chaosrunner.read.resolve import Secrets, resolve_secret_references


def state_dir() -> Path:
    env = os.environ.get("CHAOSRUNNER_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "chaosrunner"


@dataclass
class Entry:
    path: Path
    run_id: str
    pid: int
    pid_start: float
    state: str                  # "injecting" (written before inject) or "active" (handle known)
    fault_id: str
    target: str
    fault_type: str
    driver: str
    handle: Handle | None
    written: float
    plan: dict[str, Any] | None = None
    refs: bool = False          # handle and plan hold secret references (written by this version)

    def resolved(self, secrets: Secrets) -> Entry:
        """The entry with its secret references resolved (each value added to ``secrets``, so what is
        printed about it can be redacted); ConfigError naming a variable that is not set, or a file
        that cannot be read."""
        if not self.refs:
            return self
        from dataclasses import replace

        handle = self.handle
        if handle is not None:
            handle = Handle(handle.fault_id, handle.driver, handle.target, handle.fault_type,
                            resolve_secret_references(handle.data, secrets))
        return replace(self, handle=handle, plan=resolve_secret_references(self.plan, secrets), refs=False)

    def owner_alive(self) -> bool:
        try:
            return abs(psutil.Process(self.pid).create_time() - self.pid_start) < 0.01
        except psutil.NoSuchProcess:
            return False


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


HELPER = "helper"
"""The ``driver`` of a ledger entry that is a process the run started (see ``Ledger.helper``)."""


class Ledger:
    def __init__(self, directory: Path | None = None, run_id: str = "", secrets: Secrets | None = None):
        self.dir = (directory or state_dir()) / "ledger"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.secrets = secrets if secrets is not None else Secrets()
        self._pid = os.getpid()
        self._pid_start = psutil.Process(self._pid).create_time()

    def _path(self, fault_id: str) -> Path:
        return self.dir / f"{self.run_id}--{fault_id}.json"

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)

    def intend(self, fault_id: str, target: str, fault_type: str, driver: str, plan: dict[str, Any]) -> None:
        """Written before the driver is called: if we crash mid-inject, recover knows to look."""
        self._write(self._path(fault_id), {
            "run_id": self.run_id, "pid": self._pid, "pid_start": self._pid_start, "state": "injecting",
            "fault_id": fault_id, "target": target, "fault_type": fault_type, "driver": driver,
            "handle": None, "plan": self.secrets.referenced_obj(plan), "written": time.time(), "refs": 1})

    def record(self, handle: Handle, plan: dict[str, Any]) -> None:
        self._write(self._path(handle.fault_id), {
            "run_id": self.run_id, "pid": self._pid, "pid_start": self._pid_start, "state": "active",
            "fault_id": handle.fault_id, "target": handle.target, "fault_type": handle.fault_type,
            "driver": handle.driver, "handle": self.secrets.referenced_obj(handle.to_dict()),
            "plan": self.secrets.referenced_obj(plan), "written": time.time(), "refs": 1})

    def strike(self, fault_id: str) -> None:
        remove(self._path(fault_id))

    def helper(self, name: str, pid: int) -> str:
        """A process the run started (a load generator, a hog) is a fault like any other: written
        before it can act, struck off once it is gone; ``recover`` stops it after a crash. Its id."""
        created = psutil.Process(pid).create_time()
        fault_id = f"helper-{name}"
        handle = Handle(fault_id, HELPER, name, f"{name} process", {"pid": pid, "create_time": created})
        self._write(self._path(fault_id), {
            "run_id": self.run_id, "pid": self._pid, "pid_start": self._pid_start, "state": "helper",
            "fault_id": fault_id, "target": name, "fault_type": handle.fault_type, "driver": HELPER,
            "handle": handle.to_dict(), "plan": None, "written": time.time(), "refs": 1})
        return fault_id

    def entries(self) -> list[Entry]:
        return read_entries(self.dir)


def remove(path: Path) -> None:
    try:
        path.unlink()
        _fsync_dir(path.parent)
    except FileNotFoundError:
        pass


def read_entries(directory: Path | None = None) -> list[Entry]:
    d = directory if directory is not None else state_dir() / "ledger"
    out: list[Entry] = []
    if not d.exists():
        return out
    for path in sorted(d.glob("*.json")):
        try:
            r = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append(Entry(path, r.get("run_id", ""), int(r.get("pid", 0)), float(r.get("pid_start", 0)),
                         r.get("state", "active"), r.get("fault_id", ""), r.get("target", ""),
                         r.get("fault_type", ""), r.get("driver", ""),
                         Handle.from_dict(r["handle"]) if r.get("handle") else None, float(r.get("written", 0)),
                         r.get("plan"), bool(r.get("refs"))))
    return out


def orphans(directory: Path | None = None) -> list[Entry]:
    """Entries whose run is no longer alive: faults nobody will revert unless `recover` does."""
    return [e for e in read_entries(directory) if not e.owner_alive()]
