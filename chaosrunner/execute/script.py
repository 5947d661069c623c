"""The experiment's script, run on a fault session.

Phases: companions started (load warm-up, writer) → steady state before → method (continuous
sampling, stop conditions) → rollbacks: every fault reverted, then the rollback steps (only when
the method started) → recovery (sampling goes on until every probe holds for ``stable_for``,
bounded) → steady state after → companions stopped. Every fact goes to the timeline; nothing
here judges the result (that is ``chaosrunner.analyse``).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.steps import run_step
from chaosrunner.planning import Plan
from chaosrunner.probes import ProbeContext
from chaosrunner.timeline import EventKind as K


@dataclass
class ExperimentOutcome:
    steady_before: bool | None = None
    steady_after: bool | None = None
    aborted: str | None = None
    revert_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Bracket:
    """What every script's frame saw: the steady state before and after its work."""

    steady_before: bool | None = None
    steady_after: bool | None = None


async def bracketed(s: FaultSession, work: Callable[[], Awaitable[object]], undo: Callable[[bool], Awaitable[None]],
                    settle: Callable[[], Awaitable[None]]) -> Bracket:
    """The frame every script runs its work in, on a session:

    companions started → steady state before → (sampling, stop conditions) ``work()``, abortable →
    ``undo(started)``, always (every fault reverted; ``started``: whether the work began) →
    ``settle()`` (wait for the steady state by the script's own definition, bounded) → steady
    state after → companions stopped. Nothing is injected when the steady state before fails."""
    tl = s.timeline
    out = Bracket()
    started = False
    try:
        await s.start_companions()
        tl.event(K.PHASE_STARTED, phase="steady-state-before")
        out.steady_before = await s.steady("before")
        tl.event(K.PHASE_ENDED, phase="steady-state-before", ok=out.steady_before)
        if out.steady_before and not s.aborted:
            s.start_sampling()
            started = True
            await s.guard(work())
    finally:
        s.stop_watching()
        await asyncio.shield(undo(started))
        if out.steady_before:
            try:
                await settle()
            except asyncio.CancelledError:
                pass
            await s.stop_sampling()
            tl.event(K.PHASE_STARTED, phase="steady-state-after")
            out.steady_after = await s.steady("after")
            tl.event(K.PHASE_ENDED, phase="steady-state-after", ok=out.steady_after)
        await s.stop_companions()
    return out


class ExperimentScript:
    def __init__(self, plan: Plan, probes: ProbeContext, recovery_timeout: float = 60.0):
        self.plan, self.probes, self.recovery_timeout = plan, probes, recovery_timeout
        self.sampling = plan.experiment.model.sampling

    async def run(self, s: FaultSession) -> ExperimentOutcome:
        out = ExperimentOutcome()
        try:
            frame = await bracketed(s, lambda: self._method(s), lambda started: self._rollbacks(s, steps=started),
                                    lambda: self._recover(s))
            out.steady_before, out.steady_after = frame.steady_before, frame.steady_after
        finally:
            out.aborted, out.revert_failures, out.errors = s.aborted, list(s.revert_failures), list(s.errors)
        return out

    async def _method(self, s: FaultSession) -> None:
        s.timeline.event(K.PHASE_STARTED, phase="method")
        for step in self.plan.steps:
            await run_step(s, step, self.probes)
        await s.wait_timers()
        s.timeline.event(K.PHASE_ENDED, phase="method", ok=True)

    async def _rollbacks(self, s: FaultSession, *, steps: bool) -> None:
        """Revert every fault still in force, then run the experiment's rollback steps when the
        method has started (before it, nothing was done that a rollback could undo). Faults go
        first: a rollback step (a switchover back to the original primary) needs the system
        whole again, and a run interrupted mid-fault still has its faults in force here."""
        tl = s.timeline
        s.stop_watching()
        tl.event(K.PHASE_STARTED, phase="rollback")
        await s.cancel_timers()
        await s.revert_all("rollback")
        for step in (self.plan.rollbacks if steps else []):
            try:
                ok, error = await run_step(s, step, self.probes)
            except Exception as exc:  # noqa: BLE001 - one failed rollback must not stop the rest
                tl.event(K.ROLLBACK, name=step.label, ok=False, error=str(exc))
                s.errors.append(f"rollback {step.label}: {exc}")
                continue
            # a probe in the rollbacks checks the undoing worked (a switchover back, a restore):
            # when it fails, the rollback failed, whatever the steps before it did
            if error:
                tl.event(K.ROLLBACK, name=step.label, ok=ok, error=error)
            else:
                tl.event(K.ROLLBACK, name=step.label, ok=ok)
            if not ok:
                s.errors.append(f"rollback {step.label}: {error}")
        tl.event(K.PHASE_ENDED, phase="rollback", ok=not s.revert_failures)

    async def _recover(self, s: FaultSession) -> None:
        """Keep sampling until the steady state is back by the recovery definition (or the timeout).

        The stop criterion is the analysis' own definition of recovery, so the run never ends
        one sample short of the window that proves it.
        """
        if not s.probes:
            return
        from chaosrunner.analyse.recovery import recovery_from_timeline

        tl, sampling = s.timeline, self.sampling
        names = self.plan.probe_names
        deadline = tl.now() + self.recovery_timeout
        # observe at least stable_for after the last undoing (a revert, or a rollback step such as
        # a switchover back), even when nothing deviated: the recovery window (and its SLO) needs
        # data of its own, and the steady-state-after check must not catch a rollback mid-way
        undone = [e.t for e in tl.events_of(K.FAULT_REVERTED, K.ROLLBACK)]
        settle = (max(undone) + sampling.stable_for) if undone else 0.0
        while tl.now() < deadline and not s.signalled and not s.revert_failures:   # a fault still in force: no wait
            if tl.now() >= settle:
                results = recovery_from_timeline(tl, names, sampling.interval, sampling.stable_for)
                if all(r.recovered for r in results[-1:]):
                    return
            await asyncio.sleep(sampling.interval)
