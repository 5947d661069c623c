"""The engine: runs one plan, owning the clock, the samplers, the fault ledger and the reverts.

Phases: steady state before → method (with continuous sampling and stop conditions) →
rollbacks and reverts (always: success, failure, exception, SIGINT, SIGTERM) → recovery
(sampling goes on until every probe holds for ``stable_for``, bounded) → steady state after.
Drivers are called in worker threads with a timeout; an inject in flight when the run is
cancelled is awaited, recorded and reverted — a fault is never left behind untracked.
Every fact goes to the timeline; nothing here judges the result (that is ``analyse``).
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.drivers import Driver, Handle, PlannedFault, registry
from chaosrunner.errors import DriverError, RevertFailed, RunAborted
from chaosrunner.execute.ledger import Ledger
from chaosrunner.planning import Plan, PlannedStep
from chaosrunner.probes.base import Probe
from chaosrunner.execute.sampling import Sampler, take_sample
from chaosrunner.timeline import EventKind as K
from chaosrunner.timeline import Timeline

Hook = Callable[[], Awaitable[None]]


@dataclass
class EngineOptions:
    recovery_timeout: float = 60.0          # how long to wait for the steady state to come back
    revert_timeout: float = 30.0
    handle_signals: bool = True


@dataclass
class EngineOutcome:
    steady_before: bool | None = None
    steady_after: bool | None = None
    aborted: str | None = None
    revert_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Engine:
    def __init__(self, plan: Plan, timeline: Timeline, ledger: Ledger, probes: list[Probe],
                 options: EngineOptions | None = None):
        self.plan, self.timeline, self.ledger, self.probes = plan, timeline, ledger, probes
        self.options = options or EngineOptions()
        self.outcome = EngineOutcome()
        self.active: dict[str, tuple[Handle, PlannedFault]] = {}
        self._drivers: dict[str, Driver] = {}
        self._background: list[asyncio.Task[Any]] = []
        self._method_task: asyncio.Task[Any] | None = None
        self._revert_lock = asyncio.Lock()
        self._signalled = False
        self.extra_abort_checks: list[Callable[[], str | None]] = []
        self.before_steady: list[Hook] = []     # e.g. start load and writer (warm-up)
        self.after_all: list[Hook] = []         # e.g. stop load and writer

    # -- drivers -------------------------------------------------------------------------------
    def _driver(self, name: str) -> Driver:
        if name not in self._drivers:
            self._drivers[name] = registry()[name]()
        return self._drivers[name]

    async def _inject(self, fault: PlannedFault) -> Handle:
        drv = self._driver(fault.driver)
        plan_info = {"spec": fault.spec.model_dump(mode="json"), "target": fault.target_name,
                     "target_model": fault.target.model_dump(mode="json") if fault.target else None}
        self.ledger.intend(fault.fault_id, fault.target_name, fault.type, fault.driver, plan_info)
        job = asyncio.ensure_future(asyncio.wait_for(asyncio.to_thread(drv.inject, fault), fault.spec.timeout))
        try:
            handle = await asyncio.shield(job)
        except asyncio.CancelledError:
            # cancelled mid-inject: the driver call goes on; wait for it so its fault is known and reverted
            try:
                handle = await job
            except Exception:
                self.ledger.strike(fault.fault_id)
                raise asyncio.CancelledError from None
            self._register(handle, fault, plan_info)
            raise
        except TimeoutError:
            raise DriverError(f"inject timed out after {fault.spec.timeout:g}s (left in the ledger: run "
                              f"`chaosrunner recover`)", target=fault.target_name, fault=fault.type) from None
        except DriverError:
            self.ledger.strike(fault.fault_id)
            raise
        except Exception as exc:
            self.ledger.strike(fault.fault_id)
            raise DriverError(f"{type(exc).__name__}: {exc}", target=fault.target_name, fault=fault.type) from exc
        self._register(handle, fault, plan_info)
        return handle

    def _register(self, handle: Handle, fault: PlannedFault, plan_info: dict[str, Any]) -> None:
        self.ledger.record(handle, plan_info)
        self.active[fault.fault_id] = (handle, fault)
        self.timeline.event(K.FAULT_INJECTED, fault_id=fault.fault_id, target=fault.target_name, type=fault.type,
                            driver=fault.driver, detail={k: v for k, v in handle.data.items() if k != "handle"})

    async def _revert(self, fault_id: str, by: str) -> None:
        async with self._revert_lock:
            item = self.active.get(fault_id)
            if item is None:
                return
            handle, fault = item
            drv = self._driver(handle.driver)
            try:
                await asyncio.wait_for(asyncio.to_thread(drv.revert, handle), self.options.revert_timeout)
            except Exception as exc:  # noqa: BLE001 - every revert failure is recorded, none stops the others
                msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, asyncio.TimeoutError) else \
                    f"revert timed out after {self.options.revert_timeout:g}s"
                self.timeline.event(K.FAULT_REVERT_FAILED, fault_id=fault_id, target=handle.target,
                                    type=handle.fault_type, error=msg)
                self.outcome.revert_failures.append(f"{handle.fault_type} on {handle.target}: {msg}")
                self.active.pop(fault_id, None)
                return
            self.active.pop(fault_id, None)
            self.ledger.strike(fault_id)
            self.timeline.event(K.FAULT_REVERTED, fault_id=fault_id, target=handle.target, type=handle.fault_type,
                                by=by)

    async def revert_all(self, by: str) -> None:
        for fid in reversed(list(self.active)):
            await self._revert(fid, by)

    # -- steps ---------------------------------------------------------------------------------
    async def _run_step(self, step: PlannedStep) -> tuple[bool, str | None]:
        """Run one step; a probe step answers with its sample's outcome, a failing driver raises."""
        tl = self.timeline
        tl.event(K.STEP_STARTED, step=step.label, index=step.index, kind=step.kind, section=step.section)
        ok, error = True, None
        try:
            if step.kind == "pause":
                await asyncio.sleep(step.spec)
            elif step.kind == "probe":
                probe = self._probe_for_step(step)
                sample = await take_sample(probe, tl)
                ok, error = sample.ok, sample.error
                await probe.close()
            elif step.spec.type == "network" and getattr(step.spec, "operation", "") == "restore":
                for fault in step.faults:         # the undoing of faults: an action, not a fault window
                    await self._restore(fault)
            else:
                for fault in step.faults:
                    await self._inject(fault)
                spec = step.spec
                if spec.duration:
                    ids = [f.fault_id for f in step.faults]
                    if spec.background:
                        self._background.append(asyncio.create_task(self._hold_then_revert(ids, spec.duration)))
                    else:
                        await self._hold_then_revert(ids, spec.duration)
        except DriverError as exc:
            ok, error = False, str(exc)
            raise
        finally:
            tl.event(K.STEP_ENDED, step=step.label, index=step.index, ok=ok, error=error, section=step.section)
        return ok, error

    async def _restore(self, fault: PlannedFault) -> None:
        drv = self._driver(fault.driver)
        try:
            await asyncio.wait_for(asyncio.to_thread(drv.inject, fault), fault.spec.timeout)
        except Exception as exc:  # noqa: BLE001 - recorded; a failed restore is a failed rollback step
            self.timeline.event(K.ACTION, name=f"restore {fault.target_name}", ok=False, error=str(exc) or repr(exc))
            raise DriverError(str(exc) or repr(exc), target=fault.target_name, fault="network restore") from exc
        self.timeline.event(K.ACTION, name=f"restore {fault.target_name}", ok=True, target=fault.target_name)

    async def _hold_then_revert(self, fault_ids: list[str], duration: float) -> None:
        await asyncio.sleep(duration)
        for fid in fault_ids:
            await self._revert(fid, "duration")

    def _probe_for_step(self, step: PlannedStep) -> Probe:
        from chaosrunner.probes import build_probe

        return build_probe(step.spec, step.spec.name or f"step {step.index}", self.probes_context)

    probes_context: Any = None

    async def _method(self) -> None:
        self.timeline.event(K.PHASE_STARTED, phase="method")
        for step in self.plan.steps:
            await self._run_step(step)
        if self._background:
            await asyncio.gather(*self._background)
        self.timeline.event(K.PHASE_ENDED, phase="method", ok=True)

    async def _rollbacks(self, *, steps: bool) -> None:
        """Revert every fault still in force, then run the experiment's rollback steps when the
        method has started (before it, nothing was done that a rollback could undo). Faults go
        first: a rollback step (a switchover back to the original primary) needs the system
        whole again, and a run interrupted mid-fault still has its faults in force here."""
        tl = self.timeline
        tl.event(K.PHASE_STARTED, phase="rollback")
        for t in self._background:
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.revert_all("rollback")
        for step in (self.plan.rollbacks if steps else []):
            try:
                ok, error = await self._run_step(step)
            except Exception as exc:  # noqa: BLE001 - one failed rollback must not stop the rest
                tl.event(K.ROLLBACK, name=step.label, ok=False, error=str(exc))
                self.outcome.errors.append(f"rollback {step.label}: {exc}")
                continue
            # a probe in the rollbacks checks the undoing worked (a switchover back, a restore):
            # when it fails, the rollback failed, whatever the steps before it did
            if error:
                tl.event(K.ROLLBACK, name=step.label, ok=ok, error=error)
            else:
                tl.event(K.ROLLBACK, name=step.label, ok=ok)
            if not ok:
                self.outcome.errors.append(f"rollback {step.label}: {error}")
        tl.event(K.PHASE_ENDED, phase="rollback", ok=not self.outcome.revert_failures)

    # -- steady state and stop conditions -----------------------------------------------------------
    async def _steady(self, phase: str) -> bool:
        if not self.probes:
            return True
        samples = await asyncio.gather(*(take_sample(p, self.timeline) for p in self.probes))
        ok = all(s.ok for s in samples)
        self.timeline.event(K.STEADY_STATE, phase=phase, ok=ok,
                            probes={s.probe: s.ok for s in samples},
                            errors={s.probe: s.error for s in samples if not s.ok})
        return ok

    def _check_abort(self) -> str | None:
        now = self.timeline.now()
        for cond in self.plan.experiment.model.abort_when:
            if cond.probe_failing_for is not None:
                for p in self.probes:
                    if cond.probe and p.name != cond.probe:
                        continue
                    streak = _failing_since(self.timeline, p.name)
                    if streak is not None and now - streak >= cond.probe_failing_for:
                        return f"probe {p.name!r} failing for {now - streak:.1f}s (limit {cond.probe_failing_for:g}s)"
        for check in self.extra_abort_checks:
            reason = check()
            if reason:
                return reason
        return None

    async def _watch(self) -> None:
        interval = self.plan.experiment.model.sampling.interval
        while True:
            await asyncio.sleep(interval)
            reason = self._check_abort()
            if reason:
                self.abort(reason)
                return

    def abort(self, reason: str) -> None:
        if self.outcome.aborted is None:
            self.outcome.aborted = reason
            self.timeline.event(K.ABORT, reason=reason)
        if self._method_task is not None and not self._method_task.done():
            self._method_task.cancel()

    async def _recover(self) -> None:
        """Keep sampling until the steady state is back by the recovery definition (or the timeout).

        The stop criterion is the analysis' own definition of recovery, so the run never ends
        one sample short of the window that proves it.
        """
        if not self.probes:
            return
        from chaosrunner.analyse.recovery import recovery_from_timeline

        sampling = self.plan.experiment.model.sampling
        names = [p.name for p in self.probes]
        deadline = self.timeline.now() + self.options.recovery_timeout
        # observe at least stable_for after the last undoing (a revert, or a rollback step such as
        # a switchover back), even when nothing deviated: the recovery window (and its SLO) needs
        # data of its own, and the steady-state-after check must not catch a rollback mid-way
        undone = [e.t for e in self.timeline.events_of(K.FAULT_REVERTED)]
        undone += [e.t for e in self.timeline.events_of(K.ROLLBACK)]
        settle = (max(undone) + sampling.stable_for) if undone else 0.0
        while self.timeline.now() < deadline and not self._signalled:
            if self.timeline.now() < settle:
                await asyncio.sleep(sampling.interval)
                continue
            results = recovery_from_timeline(self.timeline, names, sampling.interval, sampling.stable_for)
            if all(r.recovered for r in results[-1:]):
                return
            await asyncio.sleep(sampling.interval)

    # -- the run ------------------------------------------------------------------------------
    async def run(self) -> EngineOutcome:
        tl = self.timeline
        loop = asyncio.get_running_loop()
        installed = []
        if self.options.handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        sampler = Sampler(self.probes, tl, self.plan.experiment.model.sampling.interval)
        watcher: asyncio.Task[Any] | None = None
        try:
            for hook in self.before_steady:
                await hook()
            tl.event(K.PHASE_STARTED, phase="steady-state-before")
            self.outcome.steady_before = await self._steady("before")
            tl.event(K.PHASE_ENDED, phase="steady-state-before", ok=self.outcome.steady_before)
            if not self.outcome.steady_before or self.outcome.aborted:
                return self.outcome        # nothing injected yet: the finally block has nothing to revert
            sampler.start()
            watcher = asyncio.create_task(self._watch())
            self._method_task = asyncio.create_task(self._method())
            try:
                await self._method_task
            except asyncio.CancelledError:
                if self.outcome.aborted is None:
                    raise
            except DriverError as exc:
                self.outcome.errors.append(str(exc))
                tl.event(K.ERROR, error=str(exc), where="method")
                self.abort(f"a fault could not be injected: {exc}")
        finally:
            if watcher is not None:
                watcher.cancel()
            await asyncio.shield(self._rollbacks(steps=self._method_task is not None))
            if self.outcome.steady_before:
                try:
                    await self._recover()
                except asyncio.CancelledError:
                    pass
                await sampler.stop()
                tl.event(K.PHASE_STARTED, phase="steady-state-after")
                self.outcome.steady_after = await self._steady("after")
                tl.event(K.PHASE_ENDED, phase="steady-state-after", ok=self.outcome.steady_after)
            for hook in self.after_all:
                try:
                    await hook()
                except Exception as exc:  # noqa: BLE001
                    self.outcome.errors.append(str(exc))
            for p in self.probes:
                try:
                    await p.close()
                except Exception:  # noqa: BLE001
                    pass
            for d in self._drivers.values():
                d.close()
            for sig in installed:
                loop.remove_signal_handler(sig)
        return self.outcome

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        self._signalled = True         # the operator wants out: reverts still run, waiting does not
        self.timeline.event(K.SIGNAL, signal=name)
        self.abort(f"received {name}")


def _failing_since(tl: Timeline, probe: str) -> float | None:
    """Start of the current run of failed samples of a probe (None if its last sample passed)."""
    since = None
    for s in reversed(tl.samples):
        if s.probe != probe:
            continue
        if s.ok:
            break
        since = s.start
    return since


__all__ = ["Engine", "EngineOptions", "EngineOutcome", "RevertFailed", "RunAborted"]
