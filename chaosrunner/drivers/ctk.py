"""The Chaos Toolkit bridge: any Chaos Toolkit activity (python, process or http provider) runs here.

An action ``{type: provider, provider: {...}, revert: {...}}`` runs through chaostoolkit-lib's
``run_activity``, so every Chaos Toolkit extension works inside chaosrunner; its ``revert``
provider (if any) is the rollback, recorded in the ledger so ``recover`` can run it too.
"""
from __future__ import annotations

from typing import Any

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import DriverError, PlanError
from chaosrunner.model.faults import ProviderAction


def run_ctk_activity(activity: dict[str, Any]) -> Any:
    from chaoslib.activity import ensure_activity_is_valid, run_activity
    from chaoslib.exceptions import ChaosException

    try:
        ensure_activity_is_valid(activity)
        return run_activity(activity, {}, {})
    except ChaosException as exc:
        raise DriverError(f"Chaos Toolkit activity {activity.get('name')!r} failed: {exc}") from exc


class CtkDriver(Driver):
    name = "ctk"
    fault_models = (ProviderAction,)
    handle = None

    def check(self, fault: PlannedFault) -> None:
        from chaoslib.activity import ensure_activity_is_valid
        from chaoslib.exceptions import ChaosException

        for prov, kind in ((fault.spec.provider, "action"), (fault.spec.revert, "action")):
            if prov is None:
                continue
            try:
                ensure_activity_is_valid(prov.to_activity(fault.spec.name or "provider", kind))
            except ChaosException as exc:
                raise PlanError(f"invalid Chaos Toolkit provider: {exc}") from None

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        p = fault.spec.provider
        where = f"{p.module}.{p.func}" if p.type == "python" else (p.path or p.url)
        what = f"{p.type} provider {where}"
        r = fault.spec.revert
        return (f"run {what}", f"run revert provider {r.module or r.path or r.url}" if r else "nothing")

    def inject(self, fault: PlannedFault) -> Handle:
        name = fault.spec.name or "provider"
        result = run_ctk_activity(fault.spec.provider.to_activity(name, "action"))
        revert = fault.spec.revert.to_activity(name + " (revert)", "action") if fault.spec.revert else None
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"result": _jsonable(result), "revert": revert})

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        revert = fault.spec.revert.to_activity((fault.spec.name or "provider") + " (revert)", "action") \
            if fault.spec.revert else None
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, {"revert": revert})

    def revert(self, handle: Handle) -> None:
        if handle.data.get("revert"):
            run_ctk_activity(handle.data["revert"])


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
