"""Running one planned step on a fault session — a pause, a one-off probe, an action — the same
for every script (an experiment's method and rollbacks, a game day's phases)."""
from __future__ import annotations

import asyncio
from chaosrunner.errors import DriverError
from chaosrunner.execute.sampling import take_sample
from chaosrunner.execute.session import FaultSession
from chaosrunner.planning import PlannedStep
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.timeline import EventKind as K


async def run_step(session: FaultSession, step: PlannedStep, probes: ProbeContext) -> tuple[bool, str | None]:
    """Run one step; a probe step answers with its sample's outcome, a failing driver raises."""
    tl = session.timeline
    tl.event(K.STEP_STARTED, step=step.label, index=step.index, kind=step.kind, section=step.section)
    ok, error = True, None
    try:
        if step.kind == "pause":
            await asyncio.sleep(step.spec)
        elif step.kind == "probe":
            probe = build_probe(step.spec, step.spec.name or f"step {step.index}", probes)
            try:
                sample = await take_sample(probe, tl)
            finally:
                await probe.close()
            ok, error = sample.ok, sample.error
        elif step.spec.undoes():         # a network restore: an action, not a fault window
            for fault in step.faults:
                what = getattr(step.spec, "operation", None) or step.spec.type
                await session.undo(fault, f"{what} {fault.target_name}")
        else:
            for fault in step.faults:
                await session.inject(fault)
            if step.spec.duration:
                await session.hold([f.fault_id for f in step.faults], step.spec.duration,
                                   background=bool(step.spec.background))
    except DriverError as exc:
        ok, error = False, str(exc)
        raise
    finally:
        tl.event(K.STEP_ENDED, step=step.label, index=step.index, ok=ok, error=error, section=step.section)
    return ok, error
