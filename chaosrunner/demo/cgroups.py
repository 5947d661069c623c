"""A memory limit of its own for each demo API node, like a container's, where the machine allows it.

A memory-pressure fault fills the target's cgroup to a share of its limit (the resource
driver's definition). Without a cgroup of its own, a node's "limit" is the whole machine, and
the seed's 80 % would mean most of the host's memory. So ``demo up`` creates, for each API node,
a memory cgroup under its own (v1 ``memory`` hierarchy, or v2 where the memory controller is
delegated) with ``LIMIT_BYTES``, and the node joins it before it executes (so it reads its
limit from the start). Where cgroups cannot be created (no permission, no controller), the
node runs unconfined and the demo says so in its log; nothing else changes.
"""
from __future__ import annotations

import os
from pathlib import Path

from chaosrunner.drivers.targets import CGROUP_ROOT, cgroup_of

LIMIT_BYTES = 768 * 1024 * 1024
RECORD = "cgroups"          # file under <demo dir>/run listing the cgroups to remove on `demo down`


def prepare(name: str, limit: int = LIMIT_BYTES) -> Path | None:
    """Create the cgroup ``name`` with a memory limit; None where this machine does not allow it."""
    own = cgroup_of(os.getpid())
    if own.version == 1:
        parent = own.memory_dir or CGROUP_ROOT / "memory"
        limit_file = "memory.limit_in_bytes"
    else:
        parent = own.memory_dir or CGROUP_ROOT
        limit_file = "memory.max"
    path = parent / name
    try:
        path.mkdir(exist_ok=True)
        (path / limit_file).write_text(str(limit))
    except OSError:
        try:
            path.rmdir()
        except OSError:
            pass
        return None
    return path


def join(path: Path) -> None:
    """Move the calling process into ``path`` (run in the child, before exec)."""
    try:
        (path / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        pass


def remember(demo_dir: Path, path: Path) -> None:
    record = demo_dir / "run" / RECORD
    with open(record, "a", encoding="utf-8") as f:
        f.write(f"{path}\n")


def remove_all(demo_dir: Path) -> None:
    """Remove the demo's cgroups (after its processes are gone; an occupied one is left alone)."""
    record = demo_dir / "run" / RECORD
    if not record.exists():
        return
    for line in record.read_text().splitlines():
        try:
            Path(line).rmdir()
        except OSError:
            pass
    record.unlink(missing_ok=True)
