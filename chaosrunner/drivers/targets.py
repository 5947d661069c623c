"""Finding a target's process and its cgroup (v2 unified, or v1 memory/cpu hierarchies)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from chaosrunner.errors import DriverError
from chaosrunner.model.targets import ProcessHandle

CGROUP_ROOT = Path("/sys/fs/cgroup")


def find_process(handle: ProcessHandle, target: str) -> psutil.Process:
    """The process a handle names, or DriverError saying why it was not found."""
    if handle.pid:
        pid = handle.pid
    elif handle.pidfile:
        try:
            pid = int(Path(handle.pidfile).read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise DriverError(f"cannot read pid file {handle.pidfile}: {exc}", target=target) from exc
    else:
        # never chaosrunner itself (however it was called: `chaosrunner`, `/x/.venv/bin/chaosrunner`,
        # `python -m chaosrunner`) nor what runs it (a shell, `timeout`, CI's step): their command
        # lines name the experiment, and often the pattern with it
        mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            argv = proc.info["cmdline"] or []
            cmd = " ".join(argv)
            ours = any(Path(a).name == "chaosrunner" or a == "chaosrunner.cli" for a in argv[:3])
            if proc.info["pid"] not in mine and handle.match and handle.match in cmd and not ours:
                return proc
        raise DriverError(f"no running process matches {handle.match!r}", target=target)
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise psutil.NoSuchProcess(pid)
        return proc
    except psutil.NoSuchProcess:
        raise DriverError(f"process {pid} is not running", target=target) from None


@dataclass(frozen=True)
class CgroupInfo:
    memory_dir: Path | None      # where memory.max / memory.limit_in_bytes lives
    cpu_dir: Path | None
    version: int

    def memory_limit(self) -> int:
        total = psutil.virtual_memory().total
        if self.memory_dir is None:
            return total
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        try:
            raw = (self.memory_dir / name).read_text().strip()
        except OSError:
            return total
        return total if raw == "max" else min(int(raw), total)

    def memory_used(self) -> int:
        if self.memory_dir is None:
            vm = psutil.virtual_memory()
            return vm.total - vm.available
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text().strip())
        except (OSError, ValueError):
            vm = psutil.virtual_memory()
            return vm.total - vm.available

    def cpus(self) -> float:
        if self.cpu_dir is not None:
            try:
                if self.version == 2:
                    max_quota, max_period = (self.cpu_dir / "cpu.max").read_text().split()
                    if max_quota != "max":
                        return int(max_quota) / int(max_period)
                else:
                    quota = int((self.cpu_dir / "cpu.cfs_quota_us").read_text())
                    period = int((self.cpu_dir / "cpu.cfs_period_us").read_text())
                    if quota > 0:
                        return quota / period
            except (OSError, ValueError):
                pass
        return float(os.cpu_count() or 1)

    def join_dirs(self) -> list[Path]:
        return [d for d in {self.memory_dir, self.cpu_dir} if d is not None]


def cgroup_of(pid: int) -> CgroupInfo:
    """The cgroup directories of a process; None where it sits in the root (no own limit)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return CgroupInfo(None, None, 2)
    entries = {}
    for line in lines:
        hier, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            entries[c] = path
    unified = (CGROUP_ROOT / "cgroup.controllers").exists()
    if unified:
        path = entries.get("", "/")
        d = CGROUP_ROOT / path.lstrip("/") if path not in ("/", "") else None
        return CgroupInfo(d, d, 2)

    def v1(controller: str, dirname: str) -> Path | None:
        path = entries.get(controller)
        if not path or path == "/":
            return None
        d = CGROUP_ROOT / dirname / path.lstrip("/")
        return d if d.exists() else None

    return CgroupInfo(v1("memory", "memory"), v1("cpu", "cpu") or v1("cpu,cpuacct", "cpu,cpuacct"), 1)
