"""The process driver: kill, stop (SIGSTOP for a while, then SIGCONT) or restart a local process.

The target's ``process`` handle finds it (pidfile, pid, or a command-line match). ``kill``
sends ``signal`` (SIGKILL by default); its revert starts the process again with the handle's
``restart`` command when one is given and the process has not come back by itself; without
``restart`` a kill cannot be undone, and ``plan`` says so. ``restart`` kills then starts at once.
"""
from __future__ import annotations

import os
import signal as signals
import subprocess
import time

import psutil

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.drivers.targets import find_process
from chaosrunner.errors import DriverError, PlanError
from chaosrunner.model.targets import ProcessHandle


def _signal(name: str) -> int:
    try:
        return int(getattr(signals, name.upper() if name.upper().startswith("SIG") else "SIG" + name.upper()))
    except AttributeError:
        raise PlanError(f"unknown signal {name!r}", hint="use e.g. SIGKILL, SIGTERM, SIGINT") from None


def _start(command: str | list[str]) -> int:
    proc = subprocess.Popen(command, shell=isinstance(command, str), start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.pid


class ProcessDriver(Driver):
    name = "process"
    fault_types = ("process",)
    handle = "process"

    def check(self, fault: PlannedFault) -> None:
        handle = fault.process()
        _signal(fault.spec.signal)
        if fault.spec.operation == "restart" and not handle.restart:
            raise PlanError(f"restart of {fault.target_name!r} needs process.restart: <command> in the inventory")

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        h = fault.process()
        who = f"process of {fault.target_name} ({h.pidfile or h.pid or h.match})"
        op = fault.spec.operation
        if op == "stop":
            return (f"SIGSTOP {who}", f"SIGCONT {who}")
        if op == "restart":
            return (f"kill {who} and start it with {h.restart!r}", "nothing")
        revert = f"start it with {h.restart!r} unless it is back" if h.restart else \
            "none: it stays down unless something restarts it (set process.restart to start it again)"
        return (f"{fault.spec.signal} {who}", revert)

    def inject(self, fault: PlannedFault) -> Handle:
        h = fault.process()
        what = f"process {fault.spec.operation}"
        try:
            proc = find_process(h, fault.target_name)
        except DriverError as exc:
            raise DriverError(exc.detail, target=exc.target or fault.target_name, fault=what) from exc
        op = fault.spec.operation
        data = {"pid": proc.pid, "create_time": proc.create_time(), "operation": op,
                "handle": h.model_dump(exclude_none=True)}
        try:
            if op == "stop":
                proc.send_signal(signals.SIGSTOP)
            else:
                proc.send_signal(_signal(fault.spec.signal) if op == "kill" else signals.SIGKILL)
                if op == "restart":
                    _wait_gone(proc, 5.0)
                    data["restarted_pid"] = _start(h.restart or [])
        except psutil.NoSuchProcess:
            raise DriverError(f"process {proc.pid} exited before the fault", target=fault.target_name,
                              fault=what) from None
        except psutil.AccessDenied as exc:
            raise DriverError(f"not allowed to signal process {proc.pid}: {exc}", target=fault.target_name,
                              fault=what) from exc
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, data)

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        if fault.spec.operation != "stop":
            return None          # a kill is not undone by recover (only its restart could be)
        try:
            proc = find_process(fault.process(), fault.target_name)
        except DriverError:
            return None
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"pid": proc.pid, "create_time": proc.create_time(), "operation": "stop"})

    def revert(self, handle: Handle) -> None:
        data = handle.data
        op = data["operation"]
        if op == "stop":
            try:
                proc = psutil.Process(data["pid"])
                if abs(proc.create_time() - data["create_time"]) < 0.01:
                    proc.send_signal(signals.SIGCONT)
            except psutil.NoSuchProcess:
                pass
            return
        if op == "kill":
            h = ProcessHandle(**data["handle"])
            if not h.restart:
                return
            try:
                find_process(h, handle.target)
                return  # it is back already (a supervisor restarted it)
            except DriverError:
                _start(h.restart)


def _wait_gone(proc: psutil.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                try:
                    os.waitpid(proc.pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
