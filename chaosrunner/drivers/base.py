"""The driver interface: turn one fault on one target into a handle, and back.

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

from chaosrunner.errors import PlanError
from chaosrunner.model.targets import ProcessHandle, Target, ToxiproxyHandle


@dataclass(frozen=True)
class PlannedFault:
    """One fault on one concrete target, as the planner paired it with a driver."""

    fault_id: str
    spec: Any                      # a model from chaosrunner.model.faults
    target_name: str
    target: Target | None
    driver: str

    @property
    def type(self) -> str:
        return str(self.spec.type)

    def toxiproxy(self) -> ToxiproxyHandle:
        """The target's toxiproxy handle (PlanError when it has none)."""
        if self.target is None or self.target.toxiproxy is None:
            raise PlanError(f"target {self.target_name!r} has no toxiproxy handle")
        return self.target.toxiproxy

    def process(self) -> ProcessHandle:
        """The target's process handle (PlanError when it has none)."""
        if self.target is None or self.target.process is None:
            raise PlanError(f"target {self.target_name!r} has no process handle")
        return self.target.process


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
    fault_types: ClassVar[tuple[str, ...]]
    handle: ClassVar[str | None] = None     # the inventory handle a target needs (None: none)

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
