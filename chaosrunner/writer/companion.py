"""The integrity writer as a run companion: writing from before the steady state before; on stop
it stops writing, reads everything back (filling the timeline's write records) and cleans up."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chaosrunner.model.writer import WriterSpec
from chaosrunner.writer.core import Writer

if TYPE_CHECKING:
    from chaosrunner.execute.session import FaultSession


class WriterCompanion:
    name = "writer"

    def __init__(self, spec: WriterSpec, run_id: str):
        self.spec, self.run_id = spec, run_id
        self.writer = Writer(spec)
        self._started = False

    async def start(self, session: FaultSession) -> None:
        await asyncio.to_thread(self.writer.start, session.timeline, self.run_id)   # WriterError before any fault
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self.writer.readback)
        if self.spec.cleanup:
            await asyncio.to_thread(self.writer.cleanup)

    def close(self) -> None:
        self.writer.close()

    def abort_reason(self) -> str | None:
        return None

    def figures(self) -> dict[str, Any]:
        records = self.writer.records
        return {"writes": len(records), "acknowledged": sum(r.ack is not None for r in records)}
