"""Run as a script by test_abandon: an in-memory run whose revert takes 3 s, signalled four times
while it reverts. Expected: exit 4 at once, the fault left in the ledger ($CHAOSRUNNER_STATE_DIR)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from chaosrunner import api
from chaosrunner.execute.ledger import Ledger
from chaosrunner.execute.script import ExperimentScript
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.signals import SignalGuard
from chaosrunner.probes import ProbeContext
from chaosrunner.testing import MemorySystem, StaticProbe, memory_drivers
from chaosrunner.timeline import Timeline


async def main(exp: str, gap: float) -> None:
    [p] = api.plan(exp)
    system = MemorySystem(revert_delay=3.0)
    tl = Timeline()
    with SignalGuard() as guard:
        session = FaultSession(tl, Ledger(run_id="abandon"), [StaticProbe("db ok", system, "db")], interval=0.02,
                               signals=guard, drivers=memory_drivers(system))
        async with session:
            task = asyncio.ensure_future(ExperimentScript(p, ProbeContext(timeline=tl), 1.0).run(session))
            while not system.faults:
                await asyncio.sleep(0.005)
            # CLOCK_MONOTONIC is the machine's: the test times the exit from here, not from our start
            print(f"signalling at {time.monotonic()}", flush=True)
            for _ in range(4):
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.sleep(gap)
            await task
    print("the run ended normally", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
