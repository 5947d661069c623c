"""Companions: what runs beside the faults for the whole of a run — load (Locust), the integrity
writer — behind one typed protocol, started and stopped by the fault session.

    start(session)   before the steady state before (a warm-up included); raising here is bad
                     input or a system not ready, and nothing has been injected yet
    stop()           after the steady state after, also on abort; idempotent; may finish work
                     (the writer reads everything back here)
    abort_reason()   polled with the stop conditions: a reason to abort (the load generator
                     died), else None; a companion may also call ``session.abort_soon(reason)``
                     from its own thread to be noticed at once
    figures()        headline figures so far, for live views (rps, p99, acknowledged writes …)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from chaosrunner.execute.session import FaultSession


@runtime_checkable
class Companion(Protocol):
    name: str

    async def start(self, session: FaultSession) -> None: ...

    async def stop(self) -> None: ...

    def abort_reason(self) -> str | None: ...

    def figures(self) -> dict[str, Any]: ...
