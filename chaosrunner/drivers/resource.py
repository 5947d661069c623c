"""The resource driver: memory or CPU pressure on a local target, from a helper process.

``memory``: ``consumption`` is the share of the target's memory limit (its cgroup's, else
the machine's) that should be in use while the fault lasts; the helper allocates and touches
the difference between that and what is in use now (nothing when usage is already above it).
``cpu``: the helper burns ``consumption`` × the target's CPUs (its cgroup quota, else the
machine's cores). The helper joins the target's cgroup where it may, holds for the fault's
duration (or until reverted) and dies with its parent; revert kills it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import psutil

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.drivers.targets import cgroup_of, find_process
from chaosrunner.errors import DriverError
from chaosrunner.model.faults import ResourceFault
from chaosrunner.model.targets import ProcessHandle

# never take the machine below this much available memory, whatever the experiment asks
SAFETY_MARGIN = 256 * 1024 * 1024
HOLD_WITHOUT_DURATION = 24 * 3600.0


class ResourceDriver(Driver):
    name = "resource"
    fault_models = (ResourceFault,)
    handle = "process"            # the process driver's handle: it finds the target's cgroup
    handle_model = ProcessHandle

    def check(self, fault: PlannedFault) -> None:
        fault.handle()

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        spec = fault.spec
        what = (f"fill memory of {fault.target_name}'s cgroup (or the machine) to {spec.consumption:.0%} of its limit"
                if spec.resource == "memory" else f"burn {spec.consumption:.0%} of {fault.target_name}'s CPUs")
        return (what + " from a helper process", "stop the helper process")

    def inject(self, fault: PlannedFault) -> Handle:
        spec = fault.spec
        proc = find_process(fault.handle(), fault.target_name)
        cg = cgroup_of(proc.pid)
        args = [sys.executable, "-m", "chaosrunner.drivers.pressure", "--parent", str(os.getpid()),
                "--hold", str(spec.duration or HOLD_WITHOUT_DURATION)]
        for d in cg.join_dirs():
            args += ["--cgroup", str(d)]
        detail: dict[str, float | int] = {}
        if spec.resource == "memory":
            limit, used = cg.memory_limit(), cg.memory_used()
            want = int(spec.consumption * limit) - used
            available = psutil.virtual_memory().available - SAFETY_MARGIN
            nbytes = max(0, min(want, available))
            args += ["--memory-bytes", str(nbytes)]
            detail = {"limit": limit, "used_before": used, "allocated": nbytes}
        else:
            cpus = spec.consumption * cg.cpus()
            args += ["--cpus", f"{cpus:.3f}"]
            detail = {"cpus": cpus}
        helper = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        line = helper.stdout.readline() if helper.stdout else ""   # "ready" once memory is touched
        if not line.startswith("ready"):
            err = helper.stderr.read() if helper.stderr else ""
            raise DriverError(f"pressure helper failed to start: {err.strip() or line}", target=fault.target_name,
                              fault="resource")
        hp = psutil.Process(helper.pid)
        data = {"pid": helper.pid, "create_time": hp.create_time(), "resource": spec.resource,
                "target_pid": proc.pid, **detail}
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, data)

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        # the helper dies with the runner (PR_SET_PDEATHSIG and a parent watch): nothing is left to undo
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, {"pid": -1, "create_time": 0})

    def revert(self, handle: Handle) -> None:
        """Kill the hog and its children, and see every one of them gone (else DriverError)."""
        if handle.data.get("pid", -1) < 0:
            return
        try:
            hp = psutil.Process(handle.data["pid"])
            if abs(hp.create_time() - handle.data["create_time"]) > 0.01:
                return
            members = [hp] + hp.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for m in members:
            try:
                m.kill()
            except psutil.NoSuchProcess:
                pass
        _gone, alive = psutil.wait_procs(members, timeout=5)     # reaps those that are our children
        alive = [m for m in alive if m.is_running() and m.status() != psutil.STATUS_ZOMBIE]
        if alive:
            raise DriverError(f"the {handle.data.get('resource', 'pressure')} hog survived SIGKILL: "
                              f"{[m.pid for m in alive]}", target=handle.target)
