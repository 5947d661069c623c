"""The fault session: everything a run does to a system, whatever script drives it.

A session owns the fault ledger, the drivers (each call in a worker thread with a timeout), the
faults in force, the samplers, the stop conditions, the companions (load, writer) and the
signals. Scripts — an experiment's phases (``script.ExperimentScript``), a game day's runbook, a
scheduled sequence — use it and nothing else to touch a system:

    async with FaultSession(timeline, ledger, probes, interval=0.25, companions=[load]) as s:
        await script.run(s)          # s.inject(fault), s.hold(...), s.revert(...), s.steady(...), ...
    # leaving: every fault still in force is reverted, companions stopped, probes and drivers closed

Guarantees: a fault is written to the ledger (fsync) before its driver is called, and struck off
only after a revert the driver confirmed; an inject in flight when the run is cancelled is
awaited, recorded and reverted; every fault is reverted once, on success, failure, exception,
abort and signal; a revert that fails stays in the ledger for ``chaosrunner recover``.
``abort(reason)`` (a stop condition, a signal, a companion that died, the script itself) cancels
the script's guarded work at once; the script's cleanup (rollbacks, recovery) still runs.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from chaosrunner.drivers import Driver, Handle, PlannedFault, registry
from chaosrunner.errors import DriverError
from chaosrunner.execute.companions import Companion
from chaosrunner.execute.ledger import Ledger
from chaosrunner.execute.sampling import Sampler, take_sample
from chaosrunner.execute.signals import SignalGuard
from chaosrunner.execute.stops import FailingTracker, StopCondition
from chaosrunner.probes.base import Probe
from chaosrunner.timeline import EventKind as K
from chaosrunner.timeline import Timeline

T = TypeVar("T")
DriverFactory = Callable[[str], Driver]


class FaultSession:
    def __init__(self, timeline: Timeline, ledger: Ledger, probes: list[Probe], *, interval: float,
                 stop_conditions: Iterable[StopCondition] = (), companions: Iterable[Companion] = (),
                 revert_timeout: float = 30.0, signals: SignalGuard | None = None,
                 drivers: DriverFactory | None = None, fine: float | None = None, stable_for: float = 0.0,
                 watch: float = 0.0):
        self.timeline, self.ledger, self.probes = timeline, ledger, probes
        self.interval = interval
        # adaptive sampling (see ``execute.sampling``): fine while a probe fails and for ``watch`` after
        # each inject and revert; off when ``fine`` is None
        self.fine, self.stable_for, self.watch = fine, stable_for, watch
        self._failing = FailingTracker(timeline)
        self._sample_waiter: asyncio.Future[None] | None = None
        self.stop_conditions = list(stop_conditions)
        self.companions = list(companions)
        self.revert_timeout = revert_timeout
        self.signals = signals
        self.active: dict[str, tuple[Handle, PlannedFault]] = {}
        self.aborted: str | None = None
        self.revert_failures: list[str] = []
        self.errors: list[str] = []
        self._driver_factory = drivers or (lambda name: registry()[name]())
        self._drivers: dict[str, Driver] = {}
        self._revert_lock = asyncio.Lock()
        self._timers: list[asyncio.Task[Any]] = []
        self._guarded: asyncio.Task[Any] | None = None
        self._sampler: Sampler | None = None
        self._watcher: asyncio.Task[Any] | None = None
        self._started: list[Companion] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifetime ------------------------------------------------------------------------------
    async def __aenter__(self) -> FaultSession:
        self._loop = asyncio.get_running_loop()
        if self.signals is not None:
            self.signals.attach(self._loop, self._on_signal)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        await self.cancel_timers()
        await self.revert_all("rollback")
        await self.stop_sampling()
        await self.stop_companions()
        for cond in self.stop_conditions:
            close = getattr(cond, "close", None)
            if close is not None:
                await close()
        for p in self.probes:
            try:
                await p.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the run's facts are recorded
                pass
        for d in self._drivers.values():
            try:
                d.close()
            except Exception:  # noqa: BLE001
                pass
        if self.signals is not None:
            self.signals.detach()

    @property
    def signalled(self) -> bool:
        """The operator asked to stop: reverts still run, waiting (recovery) does not."""
        return self.signals is not None and self.signals.count > 0

    # -- companions ------------------------------------------------------------------------------
    async def start_companions(self) -> None:
        """Start load, writer, ... in order (warm-up included); raises before any fault is injected."""
        for c in self.companions:
            await c.start(self)
            self._started.append(c)

    async def stop_companions(self) -> None:
        while self._started:
            c = self._started.pop()
            try:
                await c.stop()
            except Exception as exc:  # noqa: BLE001 - one companion's failure must not stop the others
                self.errors.append(f"{c.name}: {exc}")
                self.timeline.event(K.ERROR, error=str(exc), where=c.name)

    def track(self, name: str, pid: int) -> str:
        """Ledger a process a companion started (the load generator): ``recover`` stops it after a crash."""
        return self.ledger.helper(name, pid)

    def untrack(self, entry: str) -> None:
        """Strike a tracked process off once it is gone."""
        self.ledger.strike(entry)

    def figures(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.figures() for c in self._started}

    # -- drivers ---------------------------------------------------------------------------------
    def driver(self, name: str) -> Driver:
        if name not in self._drivers:
            self._drivers[name] = self._driver_factory(name)
        return self._drivers[name]

    async def inject(self, fault: PlannedFault) -> Handle:
        """Ledger first, then the driver; the handle is recorded before anything else happens."""
        drv = self.driver(fault.driver)
        plan_info = {"spec": fault.spec.model_dump(mode="json"), "target": fault.target_name,
                     "target_model": fault.target.model_dump(mode="json") if fault.target else None}
        self.ledger.intend(fault.fault_id, fault.target_name, fault.type, fault.driver, plan_info)
        self._watch_closely()                   # the fault may take effect before the driver returns
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
        self._watch_closely()
        self.timeline.event(K.FAULT_INJECTED, fault_id=fault.fault_id, target=fault.target_name, type=fault.type,
                            driver=fault.driver, detail={k: v for k, v in handle.data.items() if k != "handle"},
                            step=getattr(fault.spec, "name", None))

    async def revert(self, fault_id: str, by: str) -> bool:
        """Revert one fault in force (once; False if it failed, and then it stays in the ledger)."""
        async with self._revert_lock:
            item = self.active.pop(fault_id, None)
            if item is None:
                return True
            handle, fault = item
            drv = self.driver(handle.driver)
            self._watch_closely()
            # the fault's own timeout bounds its inject and its revert (a cloud instance may take minutes to
            # start again); never less than the session's
            limit = max(self.revert_timeout, float(getattr(fault.spec, "timeout", 0) or 0))
            try:
                await asyncio.wait_for(asyncio.to_thread(drv.revert, handle), limit)
            except Exception as exc:  # noqa: BLE001 - every revert failure is recorded, none stops the others
                msg = f"revert timed out after {limit:g}s" if isinstance(exc, TimeoutError) \
                    else f"{type(exc).__name__}: {exc}"
                self.timeline.event(K.FAULT_REVERT_FAILED, fault_id=fault_id, target=handle.target,
                                    type=handle.fault_type, error=msg)
                self.revert_failures.append(f"{handle.fault_type} on {handle.target}: {msg}")
                return False
            self.ledger.strike(fault_id)
            self._watch_closely()
            self.timeline.event(K.FAULT_REVERTED, fault_id=fault_id, target=handle.target, type=handle.fault_type,
                                by=by)
            return True

    async def revert_all(self, by: str) -> None:
        for fid in reversed(list(self.active)):
            await self.revert(fid, by)
        if self.signals is not None and not self.active and not self.revert_failures:
            self.signals.settled = True         # later signals have nothing left to abandon

    async def undo(self, fault: PlannedFault, name: str) -> None:
        """Run an action that undoes rather than injects (a network restore): not a fault window."""
        drv = self.driver(fault.driver)
        try:
            await asyncio.wait_for(asyncio.to_thread(drv.inject, fault), fault.spec.timeout)
        except Exception as exc:  # noqa: BLE001 - recorded; a failed undo is a failed step
            self.timeline.event(K.ACTION, name=name, ok=False, error=str(exc) or repr(exc))
            raise DriverError(str(exc) or repr(exc), target=fault.target_name, fault=name) from exc
        self.timeline.event(K.ACTION, name=name, ok=True, target=fault.target_name)

    # -- timed faults ----------------------------------------------------------------------------
    async def hold(self, fault_ids: list[str], duration: float, *, background: bool = False) -> None:
        """Keep faults in force for ``duration``, then revert them (in the background: return at once)."""
        if background:
            self._timers.append(asyncio.create_task(self._hold(fault_ids, duration)))
        else:
            await self._hold(fault_ids, duration)

    async def _hold(self, fault_ids: list[str], duration: float) -> None:
        await asyncio.sleep(duration)
        for fid in fault_ids:
            await self.revert(fid, "duration")

    async def wait_timers(self) -> None:
        """Wait for every background fault's duration to end (and its revert)."""
        if self._timers:
            await asyncio.gather(*self._timers)

    async def cancel_timers(self) -> None:
        for t in self._timers:
            t.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        self._timers.clear()

    # -- probes ----------------------------------------------------------------------------------
    async def steady(self, phase: str) -> bool:
        """One sample of every steady-state probe, at once; recorded as a STEADY_STATE event."""
        if not self.probes:
            return True
        samples = await asyncio.gather(*(take_sample(p, self.timeline) for p in self.probes))
        ok = all(s.ok for s in samples)
        self.timeline.event(K.STEADY_STATE, phase=phase, ok=ok, probes={s.probe: s.ok for s in samples},
                            errors={s.probe: s.error for s in samples if not s.ok})
        return ok

    def start_sampling(self) -> None:
        """Sample every probe on its fixed deadlines and check the stop conditions, until stopped."""
        if self._sampler is None:
            self._sampler = Sampler(self.probes, self.timeline, self.interval, fine=self.fine,
                                    stable_for=self.stable_for, on_sample=self._sampled)
            self._sampler.start()
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())

    async def stop_sampling(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        if self._sampler is not None:
            await self._sampler.stop()
            self._sampler = None

    def _watch_closely(self) -> None:
        """A fault is being injected or reverted: every probe at the fine rate for ``watch``."""
        if self._sampler is not None:
            self._sampler.watch(self.watch)

    def _sampled(self, sample: object) -> None:
        """After every sample: the stop conditions over samples are checked (see ``_watch``)."""
        waiter = self._sample_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stop_watching(self) -> None:
        """Stop checking the stop conditions (the fault window is over); sampling goes on."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    # -- stop conditions and aborts --------------------------------------------------------------
    def overdue(self, probe: str, now: float) -> list[float]:
        """Starts of the probe's samples in flight past their deadline (see ``Sampler.overdue``)."""
        return self._sampler.overdue(probe, now) if self._sampler is not None else []

    def failing_since(self, probe: str, now: float) -> float | None:
        """Start of the probe's current run of failed (or overdue) samples; None while it holds."""
        return self._failing.failing_since(probe, self.overdue(probe, now))

    async def check_stop_conditions(self, *, per_sample_only: bool = False) -> str | None:
        """The first reason to stop, or None; ``per_sample_only``: only the conditions over samples."""
        now = self.timeline.now()
        conditions = [c for c in self.stop_conditions if getattr(c, "per_sample", False)] if per_sample_only \
            else self.stop_conditions
        reasons = await asyncio.gather(*(cond.check(self, now) for cond in conditions))
        for reason in reasons:
            if reason:
                return reason
        for c in self._started:
            reason = c.abort_reason()
            if reason:
                return reason
        return None

    async def _watch(self) -> None:
        """Every condition every ``interval`` (on fixed deadlines, skipped after a stall); those over
        samples also after every sample, so a probe sampled finely is judged as finely."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.interval
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            self._sample_waiter = waiter
            timer = loop.call_at(next_full, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._sample_waiter = None
            full = loop.time() >= next_full
            if full:
                next_full = max(next_full + self.interval, loop.time())
            try:
                reason = await self.check_stop_conditions(per_sample_only=not full)
            except Exception as exc:  # noqa: BLE001 - a broken condition must not end the watching
                reason = f"a stop condition could not be checked: {type(exc).__name__}: {exc}"
            if reason:
                self.abort(reason)
                return

    def abort(self, reason: str) -> None:
        """End the guarded work at once (first reason wins); cleanup still runs."""
        if self.aborted is None:
            self.aborted = reason
            self.timeline.event(K.ABORT, reason=reason)
        if self._guarded is not None and not self._guarded.done():
            self._guarded.cancel()

    def abort_soon(self, reason: str) -> None:
        """``abort`` from another thread (a companion's watcher)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.abort, reason)

    async def guard(self, work: Awaitable[T]) -> T | None:
        """Run the abortable part of a script: ``abort`` cancels it and it returns None.

        A DriverError (a fault that could not be injected) aborts the run too."""
        self._guarded = asyncio.ensure_future(work)
        try:
            return await self._guarded
        except asyncio.CancelledError:
            if self.aborted is None:
                raise
            return None
        except DriverError as exc:
            self.errors.append(str(exc))
            self.timeline.event(K.ERROR, error=str(exc), where="method")
            self.abort(f"a fault could not be injected: {exc}")
            return None
        finally:
            self._guarded = None

    def _on_signal(self, name: str, count: int) -> None:
        if count == 1:
            self.timeline.event(K.SIGNAL, signal=name)
            self.abort(f"received {name}")
        else:
            self.timeline.event(K.SIGNAL, signal=name, repeated=count)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
