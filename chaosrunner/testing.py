"""An in-memory system, driver and probe: the fault session and its scripts exercised in milliseconds.

    system = MemorySystem()
    session = FaultSession(..., probes=[StaticProbe("db ok", system, "db")],
                           drivers=lambda name: MemoryDriver(system))

``MemoryDriver`` turns any planned fault into an entry of ``system.faults`` (and back), and can be
told to fail or to be slow; ``StaticProbe`` answers ok while no fault is in force on its targets.
They replace the real drivers and probes only in tests of the engine's own logic — every real
driver is tested against the real thing.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import DriverError
from chaosrunner.probes.base import Outcome


@dataclass
class MemorySystem:
    """What the in-memory driver changed: fault id → target, plus a log of every call."""

    faults: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)     # ("inject" | "revert", fault id)
    fail_inject: set[str] = field(default_factory=set)             # targets whose inject raises
    fail_revert: set[str] = field(default_factory=set)             # targets whose revert raises
    inject_delay: float = 0.0
    revert_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def broken(self, target: str) -> bool:
        with self.lock:
            return target in self.faults.values()


class MemoryDriver(Driver):
    name = "memory"
    fault_models = ()                  # never registered: sessions in tests get it through drivers=

    def __init__(self, system: MemorySystem):
        self.system = system

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        return (f"mark {fault.target_name} broken", f"mark {fault.target_name} whole")

    def inject(self, fault: PlannedFault) -> Handle:
        s = self.system
        if s.inject_delay:
            time.sleep(s.inject_delay)
        with s.lock:
            s.calls.append(("inject", fault.fault_id))
            if fault.target_name in s.fail_inject:
                raise DriverError("refused by the in-memory system", target=fault.target_name, fault=fault.type)
            s.faults[fault.fault_id] = fault.target_name
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type)

    def revert(self, handle: Handle) -> None:
        s = self.system
        if s.revert_delay:
            time.sleep(s.revert_delay)
        with s.lock:
            s.calls.append(("revert", handle.fault_id))
            if handle.target in s.fail_revert:
                raise DriverError("the in-memory system will not heal", target=handle.target)
            s.faults.pop(handle.fault_id, None)


class StaticProbe:
    """Ok while none of ``targets`` has a fault in force (or, with ``answers``, as scripted);
    with ``hang``, a check while a target is broken answers only once it is whole again (a
    blackholed target: held, not refused)."""

    def __init__(self, name: str, system: MemorySystem | None = None, *targets: str, timeout: float = 0.5,
                 answers: list[bool] | None = None, hang: bool = False):
        self.name, self.system, self.targets, self.timeout = name, system, targets, timeout
        self.answers = list(answers) if answers is not None else None
        self.hang = hang
        self.checks = 0

    async def check(self) -> Outcome:
        self.checks += 1
        if self.answers is not None:
            ok = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            return Outcome(ok, None, None if ok else "scripted failure")
        broken = [t for t in self.targets if self.system is not None and self.system.broken(t)]
        while broken and self.hang:
            await asyncio.sleep(0.01)
            broken = [t for t in self.targets if self.system is not None and self.system.broken(t)]
        return Outcome(not broken, None, f"{', '.join(broken)} broken" if broken else None)

    async def close(self) -> None:
        return None


def memory_drivers(system: MemorySystem) -> Any:
    """A driver factory for ``FaultSession(drivers=...)``: every driver name is the in-memory one."""
    return lambda name: MemoryDriver(system)
