"""The process driver: kill, stop (SIGSTOP for a while, then SIGCONT) or restart a local process.

The target's ``process`` handle finds it (pidfile, pid, or a command-line match). ``kill``
sends ``signal`` (SIGKILL by default); ``restart`` kills, then starts it with the handle's
``restart`` command at once; ``stop`` freezes it until the revert.

Every revert shows its effect, or fails (the fault then stays in the ledger, exit 4):
- a kill's revert starts the ``restart`` command unless the process came back by itself (a
  supervisor), then waits until a new process is found by the handle within ``restart_timeout``
  (30 s by default). A command that exits non-zero fails at once, with its last output; a kill
  without ``restart`` is reverted only if something else brings the process back in that time;
- a stop's revert sends SIGCONT and waits until the process no longer shows as stopped.
A ``restart`` command whose first word is ``chaosrunner`` runs this chaosrunner with its own
interpreter (``python -m chaosrunner ...``), so an inventory never depends on what PATH holds.
"""
from __future__ import annotations

import os
import shlex
import signal as signals
import subprocess
import sys
import tempfile
import time

import psutil

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.drivers.targets import find_process
from chaosrunner.errors import DriverError, PlanError
from chaosrunner.model.faults import ProcessFault
from chaosrunner.model.targets import ProcessHandle


def _signal(name: str) -> int:
    try:
        return int(getattr(signals, name.upper() if name.upper().startswith("SIG") else "SIG" + name.upper()))
    except AttributeError:
        raise PlanError(f"unknown signal {name!r}", hint="use e.g. SIGKILL, SIGTERM, SIGINT") from None


def restart_command(command: str | list[str]) -> str | list[str]:
    """The command as it is run: a leading ``chaosrunner`` becomes this interpreter's ``-m chaosrunner``."""
    me = [sys.executable, "-m", "chaosrunner"]
    if isinstance(command, list):
        return me + command[1:] if command and command[0] == "chaosrunner" else command
    head, _sep, rest = command.strip().partition(" ")
    return " ".join(shlex.quote(x) for x in me) + (" " + rest if rest else "") if head == "chaosrunner" else command


def _same(proc: psutil.Process, pid: int, created: float) -> bool:
    return proc.pid == pid and abs(proc.create_time() - created) < 0.01


def _find_new(h: ProcessHandle, target: str, old_pid: int, old_created: float) -> psutil.Process | None:
    """The handle's process, if one runs that is not the one we killed."""
    try:
        proc = find_process(h, target)
        return None if _same(proc, old_pid, old_created) else proc
    except (DriverError, psutil.NoSuchProcess):
        return None


def start_and_wait(h: ProcessHandle, target: str, old_pid: int, old_created: float) -> int:
    """Run the restart command and wait until the handle finds a new process; its pid, or DriverError."""
    assert h.restart is not None
    log = tempfile.TemporaryFile()
    command = restart_command(h.restart)
    try:
        proc = subprocess.Popen(command, shell=isinstance(command, str), start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise DriverError(f"restart command {h.restart!r} could not start: {exc}", target=target) from exc
    deadline = time.monotonic() + h.restart_timeout
    while True:
        code = proc.poll()
        if code not in (None, 0):
            log.seek(0)
            tail = log.read()[-400:].decode(errors="replace").strip()
            raise DriverError(f"restart command {h.restart!r} exited with {code}" + (f": {tail}" if tail else ""),
                              target=target)
        found = _find_new(h, target, old_pid, old_created)
        if found is not None:
            return found.pid
        if time.monotonic() > deadline:
            raise DriverError(f"the process did not come back within {h.restart_timeout:g}s of its restart "
                              f"command {h.restart!r}", target=target)
        time.sleep(0.05)


class ProcessDriver(Driver):
    name = "process"
    fault_models = (ProcessFault,)
    handle = "process"
    handle_model = ProcessHandle

    def check(self, fault: PlannedFault) -> None:
        handle: ProcessHandle = fault.handle()
        _signal(fault.spec.signal)
        if fault.spec.operation == "restart" and not handle.restart:
            raise PlanError(f"restart of {fault.target_name!r} needs process.restart: <command> in the inventory")

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        h: ProcessHandle = fault.handle()
        who = f"process of {fault.target_name} ({h.pidfile or h.pid or h.match})"
        op = fault.spec.operation
        if op == "stop":
            return (f"SIGSTOP {who}", f"SIGCONT {who}")
        if op == "restart":
            return (f"kill {who} and start it with {h.restart!r}", "nothing")
        revert = f"start it with {h.restart!r} unless it is back; found again within {h.restart_timeout:g}s" \
            if h.restart else f"none: it must come back by itself within {h.restart_timeout:g}s (set process.restart " \
                              "to start it again)"
        return (f"{fault.spec.signal} {who}", revert)

    def inject(self, fault: PlannedFault) -> Handle:
        h: ProcessHandle = fault.handle()
        what = f"process {fault.spec.operation}"
        try:
            proc = find_process(h, fault.target_name)
        except DriverError as exc:
            raise DriverError(exc.detail, target=exc.target or fault.target_name, fault=what) from exc
        op = fault.spec.operation
        data = {"pid": proc.pid, "create_time": proc.create_time(), "operation": op,
                "handle": h.model_dump(mode="json", exclude_none=True)}
        try:
            if op == "stop":
                proc.send_signal(signals.SIGSTOP)
            else:
                proc.send_signal(_signal(fault.spec.signal) if op == "kill" else signals.SIGKILL)
                if op == "restart":
                    _wait_gone(proc, 5.0)
                    data["restarted_pid"] = start_and_wait(h, fault.target_name, proc.pid, data["create_time"])
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
            proc = find_process(fault.handle(), fault.target_name)
        except DriverError:
            return None
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"pid": proc.pid, "create_time": proc.create_time(), "operation": "stop"})

    def revert(self, handle: Handle) -> None:
        data = handle.data
        op = data["operation"]
        if op == "stop":
            _continue(data["pid"], data["create_time"], handle.target)
        elif op == "kill":
            h = ProcessHandle(**data["handle"])
            if _find_new(h, handle.target, data["pid"], data["create_time"]) is not None:
                return                      # it is back already (a supervisor restarted it)
            if h.restart:
                start_and_wait(h, handle.target, data["pid"], data["create_time"])
                return
            deadline = time.monotonic() + h.restart_timeout
            while _find_new(h, handle.target, data["pid"], data["create_time"]) is None:
                if time.monotonic() > deadline:
                    raise DriverError(f"the killed process did not come back within {h.restart_timeout:g}s, and "
                                      "the inventory gives no process.restart command", target=handle.target)
                time.sleep(0.1)


def _continue(pid: int, created: float, target: str, timeout: float = 5.0) -> None:
    """SIGCONT, then see the process run again (a process that died meanwhile is no longer stopped)."""
    deadline = time.monotonic() + timeout
    try:
        proc = psutil.Process(pid)
        if not _same(proc, pid, created):
            return
        while True:
            proc.send_signal(signals.SIGCONT)
            if proc.status() != psutil.STATUS_STOPPED:
                return
            if time.monotonic() > deadline:
                raise DriverError(f"process {pid} still shows as stopped {timeout:g}s after SIGCONT", target=target)
            time.sleep(0.02)
    except psutil.NoSuchProcess:
        return


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
