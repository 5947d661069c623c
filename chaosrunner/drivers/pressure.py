"""The pressure helper process: holds memory or burns CPU for a while, then exits.

Started by the resource driver as ``python -m chaosrunner.drivers.pressure``. It joins the
target's cgroup(s) when it can (so the memory counts against the target's limit), asks the
kernel to kill it when its parent dies (PR_SET_PDEATHSIG) and also watches the parent, so a
crashed or killed runner never leaves pressure behind. It exits by itself after ``--hold``.
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PAGE = mmap.PAGESIZE


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _join(dirs: list[str]) -> None:
    for d in dirs:
        for name in ("cgroup.procs", "tasks"):
            try:
                (Path(d) / name).write_text(str(os.getpid()))
                break
            except OSError:
                continue


def _hold_memory(nbytes: int) -> mmap.mmap | None:
    if nbytes <= 0:
        return None
    block = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, nbytes, PAGE):       # touch every page so it is really resident
        block[offset] = 1
    return block


def _burn(share: float, parent: int, until: float) -> None:
    _die_with_parent()
    period = 0.05
    while time.monotonic() < until and os.getppid() == parent:
        start = time.monotonic()
        while time.monotonic() - start < period * share:
            pass
        time.sleep(max(0.0, period * (1 - share)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chaosrunner.drivers.pressure")
    p.add_argument("--memory-bytes", type=int, default=0)
    p.add_argument("--cpus", type=float, default=0.0, help="CPU-seconds per second to burn")
    p.add_argument("--hold", type=float, required=True, help="seconds")
    p.add_argument("--parent", type=int, required=True)
    p.add_argument("--cgroup", action="append", default=[])
    args = p.parse_args(argv)
    _die_with_parent()
    _join(args.cgroup)
    until = time.monotonic() + args.hold
    burners = []
    if args.cpus > 0:
        whole, part = int(args.cpus), args.cpus - int(args.cpus)
        shares = [1.0] * whole + ([part] if part > 0.01 else [])
        ctx = multiprocessing.get_context("fork")
        for share in shares:
            proc = ctx.Process(target=_burn, args=(share, os.getpid(), until), daemon=True)
            proc.start()
            burners.append(proc)
    block = _hold_memory(args.memory_bytes)
    print(f"ready {args.memory_bytes} {args.cpus}", flush=True)
    try:
        while time.monotonic() < until:
            if os.getppid() != args.parent:
                break
            time.sleep(0.1)
    finally:
        for proc in burners:
            proc.terminate()
        if block is not None:
            block.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
