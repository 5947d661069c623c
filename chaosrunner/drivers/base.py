"""The driver interface: turn one fault on one target into a handle, and back.

A driver owns its vocabulary: ``fault_models``, the pydantic models of the fault types it
injects (each a subclass of ``chaosrunner.model.faults.Fault`` with ``type: Literal["..."]`` and
its own parameters), and ``handle`` / ``handle_model``, the inventory key a target needs for it
and that handle's model (``handle = "toxiproxy"``, ``handle_model = ToxiproxyHandle``). The
registry checks these declarations when it loads a driver and makes the experiment and
inventory models accept them; ``fault.handle()`` gives a driver its target's handle.

A driver is three calls — ``inject(fault) -> Handle``, ``revert(handle)``, ``close()`` —
plus ``check(fault)`` (plan time: raise ``PlanError`` if the fault cannot be done, before
anything is touched) and ``describe(fault)`` (what ``plan`` prints). ``revert`` is
idempotent: reverting twice, or reverting something already gone, succeeds. A ``Handle`` is
plain JSON data so that the ledger can revert it after a crash, in another process, with a
fresh driver instance. The engine calls drivers from a worker thread with a timeout.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from chaosrunner.errors import PlanError
from chaosrunner.model.faults import Fault, fault_type_of
from chaosrunner.model.targets import Target


@dataclass(frozen=True)
class PlannedFault:
    """One fault on one concrete target, as the planner paired it with a driver."""

    fault_id: str
    spec: Any                      # a fault model (a subclass of chaosrunner.model.faults.Fault)
    target_name: str
    target: Target | None
    driver: str

    @property
    def type(self) -> str:
        return str(self.spec.type)

    def handle(self) -> Any:
        """The target's handle for this fault's driver: an instance of the driver's ``handle_model``.

        PlanError when the target has none (or the driver declares no handle).
        """
        from chaosrunner.drivers import driver_class

        cls = driver_class(self.driver)
        key, model = cls.handle, cls.handle_model
        if key is None or model is None:
            raise PlanError(f"the {self.driver} driver declares no inventory handle")
        value = self.target.handle(key) if self.target is not None else None
        if value is None:
            raise PlanError(f"target {self.target_name!r} has no {key} handle, which a {self.type} fault needs",
                            hint=f"add `{key}:` to {self.target_name!r} in the inventory")
        if not isinstance(value, model):       # a Target built with another model under that key
            try:
                value = model.model_validate(value.model_dump())
            except ValidationError as exc:
                raise PlanError(f"the {key} handle of {self.target_name!r} is not what the {self.driver} driver "
                                f"needs: {exc.errors(include_url=False)[0]['msg']}") from None
        return value


@dataclass(frozen=True)
class Handle:
    fault_id: str
    driver: str
    target: str
    fault_type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Handle:
        return cls(d["fault_id"], d["driver"], d["target"], d["fault_type"], dict(d.get("data", {})))


class Driver(ABC):
    name: ClassVar[str]
    fault_models: ClassVar[tuple[type[Fault], ...]]     # the fault types it injects, as models
    handle: ClassVar[str | None] = None                 # the inventory key of the handle a target needs
    handle_model: ClassVar[type[BaseModel] | None] = None   # that handle's model (None with no handle)

    @classmethod
    def fault_types(cls) -> tuple[str, ...]:
        """The ``type`` of each fault model it declares."""
        return tuple(fault_type_of(m) for m in cls.fault_models)

    def check(self, fault: PlannedFault) -> None:  # noqa: B027 - an optional hook, not abstract
        """Raise PlanError if this fault cannot be done on this target (default: nothing to check)."""

    @abstractmethod
    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        """(what inject does, what revert does), in words for `chaosrunner plan`."""

    @abstractmethod
    def inject(self, fault: PlannedFault) -> Handle: ...

    @abstractmethod
    def revert(self, handle: Handle) -> None: ...

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        """Rebuild the handle of a fault whose run died mid-inject (before its handle was written).

        ``recover`` reverts with it. None means the driver cannot tell what the fault did; the
        entry then needs a human. Drivers whose faults die with the runner need not care.
        """
        return None

    def close(self) -> None:
        return None
