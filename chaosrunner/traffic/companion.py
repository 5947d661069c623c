"""Locust load as a run companion: started (with a warm-up) before the steady state before,
stopped after the steady state after; if Locust dies mid-run the session aborts at once."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosrunner.model.traffic import LoadSpec
from chaosrunner.read.resolve import Secrets
from chaosrunner.timeline import Timeline
from chaosrunner.traffic.runner import LoadRunner

if TYPE_CHECKING:
    from chaosrunner.execute.session import FaultSession

WARMUP_TIMEOUT = 10.0


class LoadCompanion:
    name = "load"

    def __init__(self, spec: LoadSpec, run_dir: Path, timeline: Timeline, *, base_dir: Path, run_time: float,
                 default_host: str | None, secrets: Secrets | None = None):
        self._session: FaultSession | None = None
        self._entry: str | None = None
        self.runner = LoadRunner(spec, run_dir, timeline, base_dir=base_dir, run_time=run_time,
                                 on_died=self._died, default_host=default_host,   # base_url: where load sets no host
                                 secrets=secrets)                     # Locust gets references; its files redacted

    def preflight(self) -> None:
        """Locustfile, user classes, hosts reachable: checked before anything is touched (LoadInputError)."""
        self.runner.preflight()

    async def start(self, session: FaultSession) -> None:
        import asyncio

        self._session = session
        await asyncio.to_thread(self.runner.start)
        if self.runner.pid is not None:          # a Locust of our own (not an observed master): ledgered
            self._entry = session.track("locust", self.runner.pid)
        # warm-up: the first statistics reach the timeline; every request failing there is bad input
        await asyncio.to_thread(self.runner.warm_up, WARMUP_TIMEOUT)

    async def stop(self) -> None:
        import asyncio

        await asyncio.to_thread(self.runner.stop)
        if self._entry is not None and self._session is not None and not self.runner.alive():
            self._session.untrack(self._entry)
            self._entry = None

    def close(self) -> None:
        """Stop Locust from outside a session (a run that ended before or without one)."""
        self.runner.stop()

    def abort_reason(self) -> str | None:
        return None                        # a death is pushed at once (``_died``), not polled

    def figures(self) -> dict[str, Any]:
        last = next((s for s in reversed(self.runner.timeline.load_stats) if s.name == "Aggregated"), None)
        return {"users": self.runner.users, "rps": last.rps if last else None,
                "p99_ms": last.p99 if last else None, "failures": last.failures if last else None}

    def _died(self, reason: str) -> None:
        if self._session is not None:        # the details are in the ERROR event and locust.log
            first = reason.strip().splitlines()[0].rstrip(":") if reason.strip() else "no reason given"
            self._session.abort_soon(f"the load generator died: {first} (see locust.log)")
