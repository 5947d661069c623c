"""Crash recovery: revert every fault a dead run left in the ledger (``chaosrunner recover``), and
refuse to start a run while such orphans exist.

When a fault cannot be reverted by any program (a restart command that no longer works), a human
fixes it by hand and then says so: ``chaosrunner recover --forget ID`` strikes the entry off after
a confirmation, and appends what was forgotten, when and by whom to ``<state dir>/forgotten.jsonl``
— the ledger never loses an entry without a record. ``--list`` shows the entries and their ids.
"""
from __future__ import annotations

import getpass
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from chaosrunner.drivers import Handle, PlannedFault, usable_drivers
from chaosrunner.errors import ConfigError, OrphanedFaults
from chaosrunner.execute import ledger as ledger_mod
from chaosrunner.model import vocabulary
from chaosrunner.read.resolve import Secrets


def refuse_orphans() -> None:
    """Raise ``OrphanedFaults`` while faults of a dead run are in the ledger."""
    orphans = ledger_mod.orphans()
    if orphans:
        listed = "; ".join(f"{e.fault_type} on {e.target} (run {e.run_id})" for e in orphans)
        raise OrphanedFaults(f"faults of an earlier run were never reverted: {listed}. "
                             "Run `chaosrunner recover` first.")


def handle_from_intent(e: ledger_mod.Entry) -> Handle | None:
    """Rebuild a handle from what the ledger wrote before the inject (the run died mid-inject).

    The fault and its target are validated again with the models of the installed vocabulary (the
    fault model its driver declares, the target with every installed handle), then the driver says
    what its inject would have left. None when it cannot tell (or the entry is from another version).
    """
    cls = usable_drivers().get(e.driver)
    if not e.plan or cls is None:
        return None
    try:
        spec_data = e.plan["spec"]
        model = dict(zip(cls.fault_types(), cls.fault_models, strict=True))[spec_data["type"]]
        spec = model.model_validate(spec_data)
        target_data = e.plan.get("target_model")
        target = vocabulary.current().target_model.model_validate(target_data) if target_data else None
    except Exception:  # noqa: BLE001 - an entry from another version: leave it to a human
        return None
    return cls().handle_from_intent(PlannedFault(e.fault_id, spec, e.target, target, e.driver))


@dataclass
class Recovered:
    entry: ledger_mod.Entry
    ok: bool
    error: str | None = None


def recover(include_live: bool = False) -> list[Recovered]:
    """Revert every fault left in the ledger by a run that is no longer alive."""
    out = []
    entries = ledger_mod.read_entries() if include_live else ledger_mod.orphans()
    drivers = usable_drivers()      # a broken plugin must not keep the built-in drivers from reverting
    for e in entries:
        if e.driver == ledger_mod.HELPER and e.handle is not None:
            try:
                stop_helper(e.handle.data["pid"], e.handle.data["create_time"])
            except OSError as exc:
                out.append(Recovered(e, False, f"could not stop process {e.handle.data['pid']}: {exc}"))
                continue
            ledger_mod.remove(e.path)
            out.append(Recovered(e, True))
            continue
        if (e.handle.driver if e.handle else e.driver) not in drivers:
            out.append(Recovered(e, False, f"driver {e.driver!r}, which injected it, is not installed or failed to "
                                           "load: install (or fix) it, then run `chaosrunner recover` again"))
            continue
        # secrets are in the ledger as references (`${env:TOKEN}`): resolved here, with this process'
        # environment and files; one that cannot be is named, and the entry stays for the next try
        found = Secrets()
        try:
            live = e.resolved(found)
        except ConfigError as exc:
            out.append(Recovered(e, False, f"{exc.message}: the entry stays in the ledger; {exc.hint}"))
            continue
        handle = live.handle or handle_from_intent(live)
        if handle is None:
            out.append(Recovered(e, False, "the run died while injecting and the driver cannot tell what it did: "
                                           f"check {e.fault_type} on {e.target} by hand, then `chaosrunner recover "
                                           f"--forget {entry_id(e)}`"))
            continue
        try:
            drivers[handle.driver]().revert(handle)
        except Exception as exc:  # noqa: BLE001 - report every failure, try every entry
            out.append(Recovered(e, False, found.redact(f"{type(exc).__name__}: {exc}") + " — fix it by hand, "
                                           f"then `chaosrunner recover --forget {entry_id(e)}`"))
            continue
        ledger_mod.remove(e.path)
        out.append(Recovered(e, True))
    return out


def stop_helper(pid: int, created: float, grace: float = 3.0) -> None:
    """Stop a process the run started, and its process group (Locust's workers), unless its pid
    now belongs to another program: SIGTERM, then SIGKILL after ``grace``; OSError if it survives."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) >= 0.01:
            return                                  # gone long ago; the pid is someone else's now
        members = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for m in members:
            try:
                m.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _gone, alive = psutil.wait_procs(members, timeout=grace)
        if not alive:
            return
        members = alive
    raise OSError(f"{len(members)} process(es) survived SIGKILL: {[m.pid for m in members]}")


def entry_id(e: ledger_mod.Entry) -> str:
    """The id a person types to name an entry: its file name without ``.json`` (``<run id>--<fault id>``)."""
    return e.path.stem


def find_entry(wanted: str) -> ledger_mod.Entry | None:
    return next((e for e in ledger_mod.read_entries() if entry_id(e) == wanted), None)


def forget(e: ledger_mod.Entry, reason: str) -> Path:
    """Strike an entry off without reverting it (a human fixed it by hand), recording that first."""
    log = ledger_mod.state_dir() / "forgotten.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    record = {"forgotten": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "by": _who(), "reason": reason,
              "id": entry_id(e), "run_id": e.run_id, "fault_id": e.fault_id, "fault_type": e.fault_type,
              "target": e.target, "driver": e.driver, "state": e.state,
              "handle": e.handle.to_dict() if e.handle else None}
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    ledger_mod.remove(e.path)
    return log


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (a container): the uid says enough
        return f"uid {os.getuid()}"
