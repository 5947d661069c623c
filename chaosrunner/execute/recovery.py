"""Crash recovery: revert every fault a dead run left in the ledger (``chaosrunner recover``), and
refuse to start a run while such orphans exist."""
from __future__ import annotations

from dataclasses import dataclass

from chaosrunner.drivers import Handle, PlannedFault, registry
from chaosrunner.errors import OrphanedFaults
from chaosrunner.execute import ledger as ledger_mod


def refuse_orphans() -> None:
    """Raise ``OrphanedFaults`` while faults of a dead run are in the ledger."""
    orphans = ledger_mod.orphans()
    if orphans:
        listed = "; ".join(f"{e.fault_type} on {e.target} (run {e.run_id})" for e in orphans)
        raise OrphanedFaults(f"faults of an earlier run were never reverted: {listed}. "
                             "Run `chaosrunner recover` first.")


def handle_from_intent(e: ledger_mod.Entry) -> Handle | None:
    """Rebuild a handle from what the ledger wrote before the inject (the run died mid-inject)."""
    from pydantic import TypeAdapter

    from chaosrunner.model.experiment import FaultSpec
    from chaosrunner.model.targets import Target

    if not e.plan or e.driver not in registry():
        return None
    try:
        spec = TypeAdapter(FaultSpec).validate_python(e.plan["spec"])
        target = Target.model_validate(e.plan["target_model"]) if e.plan.get("target_model") else None
    except Exception:  # noqa: BLE001 - an entry from another version: leave it to a human
        return None
    return registry()[e.driver]().handle_from_intent(PlannedFault(e.fault_id, spec, e.target, target, e.driver))


@dataclass
class Recovered:
    entry: ledger_mod.Entry
    ok: bool
    error: str | None = None


def recover(include_live: bool = False) -> list[Recovered]:
    """Revert every fault left in the ledger by a run that is no longer alive."""
    out = []
    entries = ledger_mod.read_entries() if include_live else ledger_mod.orphans()
    for e in entries:
        handle = e.handle or handle_from_intent(e)
        if handle is None:
            out.append(Recovered(e, False, "the run died while injecting and the driver cannot tell what it did: "
                                           f"check {e.fault_type} on {e.target} by hand, then delete {e.path}"))
            continue
        try:
            registry()[handle.driver]().revert(handle)
        except Exception as exc:  # noqa: BLE001 - report every failure, try every entry
            out.append(Recovered(e, False, f"{type(exc).__name__}: {exc}"))
            continue
        ledger_mod.remove(e.path)
        out.append(Recovered(e, True))
    return out
