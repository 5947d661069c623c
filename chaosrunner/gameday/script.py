"""The game day's script, on a fault session: its phases and steps, run in order.

Companions started → steady state before → the phases (each no earlier than its ``at`` after
T+0, the start of the first phase run; sampling and stop conditions on throughout) → every
fault still in force reverted (the day's end, an abort, a signal) → the steady state settles
(``stable_for`` after the last revert, bounded) → steady state after → companions stopped.
Every step's outcome goes to the timeline and to the outcome's phase records; nothing here
judges the day (``chaosrunner.analyse.gameday`` does).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaosrunner.analyse.gameday import baseline_at, first_time, holds_now
from chaosrunner.execute.script import bracketed
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.steps import run_step
from chaosrunner.gameday.model import Step
from chaosrunner.gameday.read import LoadedGameDay
from chaosrunner.probes import ProbeContext
from chaosrunner.timeline import EventKind as K
from chaosrunner.timeline import Timeline


@dataclass
class Answer:
    answer: str                    # confirm | skip | fail
    note: str = ""
    by: str = "operator"


class Operator(Protocol):
    """Who answers manual steps: a person at the terminal, or the file's ``auto:`` answers."""

    async def ask(self, label: str, text: str, auto: str) -> Answer: ...


class Unattended:
    async def ask(self, label: str, text: str, auto: str) -> Answer:
        return Answer(auto, "answered automatically (--non-interactive)", by="auto")


@dataclass
class StepOutcome:
    kind: str
    name: str
    status: str = ""
    t: float | None = None
    took: float | None = None
    detail: str = ""


@dataclass
class PhaseOutcome:
    name: str
    started: float | None = None
    ended: float | None = None
    steps: list[StepOutcome] = field(default_factory=list)


@dataclass
class GameDayOutcome:
    t0: float | None = None
    steady_before: bool | None = None
    steady_after: bool | None = None
    phases: list[PhaseOutcome] = field(default_factory=list)
    starts: dict[str, float] = field(default_factory=dict)       # phase name / step id -> run clock
    nested: list[tuple[str, Any]] = field(default_factory=list)  # (step label, RunResult)
    aborted: str | None = None
    revert_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


NestedRunner = Callable[[Any], Awaitable[Any]]


class GameDayScript:
    def __init__(self, day: LoadedGameDay, probes: ProbeContext, *, time_scale: float = 1.0, from_phase: int = 1,
                 operator: Operator | None = None, nested: NestedRunner | None = None,
                 settle_timeout: float = 60.0, on_step: Callable[[str, str], None] | None = None):
        self.day, self.probes, self.scale, self.from_phase = day, probes, time_scale, from_phase
        self.operator = operator or Unattended()
        self.nested = nested
        self.settle_timeout = settle_timeout
        self.on_step = on_step or (lambda phase, step: None)
        self.sampling = day.model.sampling
        self.out = GameDayOutcome()
        # each probe's value at T+0, read when T+0 is set: `changed` conditions compare with it, and
        # a spooled timeline keeps only its last minutes in memory (the samples before T+0 go)
        self.baselines: dict[str, Any] = {}

    def _baseline(self, tl: Timeline, probe: str | None, t0: float) -> Any:
        known = self.baselines.get(probe or "")
        return known if known is not None else baseline_at(tl.samples, probe, t0)

    async def run(self, s: FaultSession) -> GameDayOutcome:
        out = self.out
        attach = getattr(self.operator, "attach", None)
        if attach is not None:
            attach(s)               # a person at the keyboard: `a` aborts the session, `n` notes on its timeline
        try:
            frame = await bracketed(s, lambda: self._phases(s), lambda started: self._end(s),
                                    lambda: self._settle(s))
            out.steady_before, out.steady_after = frame.steady_before, frame.steady_after
        finally:
            out.aborted, out.revert_failures, out.errors = s.aborted, list(s.revert_failures), list(s.errors)
        return out

    async def _end(self, s: FaultSession) -> None:
        s.timeline.event(K.PHASE_STARTED, phase="end of game day")
        await s.cancel_timers()
        await s.revert_all("end of game day")
        s.timeline.event(K.PHASE_ENDED, phase="end of game day", ok=not s.revert_failures)

    async def _settle(self, s: FaultSession) -> None:
        """Sample on until every probe holds for ``stable_for`` after the last revert (bounded)."""
        tl = s.timeline
        undone = [e.t for e in tl.events_of(K.FAULT_REVERTED)]
        if not undone or not s.probes:
            return
        deadline = tl.now() + self.settle_timeout
        while tl.now() < deadline and not s.signalled and not s.revert_failures:
            at, _ = first_time(tl.samples, _STEADY, max(undone), probes=self.day.plan.probe_names,
                               stable_for=self.sampling.stable_for)
            if at is not None and tl.now() >= max(undone) + self.sampling.stable_for:
                return
            await asyncio.sleep(self.sampling.interval)

    async def _phases(self, s: FaultSession) -> None:
        tl = s.timeline
        for p, phase in enumerate(self.day.model.phases):
            if p + 1 < self.from_phase:
                continue
            if self.out.t0 is None:
                # --from-phase N: the day goes on as if it had reached phase N on time (T+0 moved back)
                self.out.t0 = tl.now() - (phase.at or 0.0) * self.scale
                tl.event(K.NOTE, text="T+0", author="chaosrunner", t0=True, origin=self.out.t0)
                self.baselines = {p: baseline_at(tl.samples, p, self.out.t0) for p in self.day.plan.probe_names}
            if phase.at is not None:
                due = self.out.t0 + phase.at * self.scale
                if due > tl.now():
                    await asyncio.sleep(due - tl.now())
            started = tl.now()
            rec = PhaseOutcome(phase.name, started=started)
            self.out.phases.append(rec)
            self.out.starts[phase.name] = started
            tl.event(K.PHASE_STARTED, phase=phase.name, gameday=True, index=p + 1,
                     at=None if phase.at is None else phase.at * self.scale)
            for i, step in enumerate(phase.steps):
                self.on_step(phase.name, step.label())
                t = tl.now()
                sr = StepOutcome(step.kind, step.label(), t=t)
                rec.steps.append(sr)
                if step.id is not None:
                    self.out.starts[step.id] = t
                await self._step(s, (p, i), step, sr)
                if sr.took is None:
                    sr.took = round(tl.now() - t, 3)
                if sr.status == "timeout" and step.wait_until is not None and step.wait_until.critical:
                    rec.ended = tl.now()
                    s.abort(f"critical wait_until timed out: {step.label()}")
                    await asyncio.sleep(0)          # the abort cancels this task here
            rec.ended = tl.now()
            tl.event(K.PHASE_ENDED, phase=phase.name, gameday=True, ok=all(
                x.status not in ("failed", "timeout") for x in rec.steps))
        await s.wait_timers()

    async def _step(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        tl = s.timeline
        kind = step.kind
        if kind == "action":
            ok, error = await run_step(s, self.day.actions[where], self.probes)
            sr.status, sr.detail = ("done" if ok else "failed"), error or ""
            return
        tl.event(K.STEP_STARTED, step=sr.name, kind=kind, id=step.id, gameday=True)
        try:
            await getattr(self, f"_{kind}")(s, where, step, sr)
        finally:
            tl.event(K.STEP_ENDED, step=sr.name, kind=kind, id=step.id, ok=sr.status not in ("failed", "timeout"),
                     status=sr.status, detail=sr.detail, gameday=True)

    async def _revert(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        if step.revert == "all":
            await s.revert_all("revert step")
            sr.status = "failed" if s.revert_failures else "done"
            return
        for (p, i), st in self.day.steps():
            if st.id == step.revert and (p, i) in self.day.actions:
                oks = [await s.revert(f.fault_id, "revert step") for f in self.day.actions[(p, i)].faults]
                sr.status = "done" if all(oks) else "failed"

    async def _wait_until(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        cond = step.wait_until
        assert cond is not None
        tl = s.timeline
        start = tl.now()
        timeout = cond.timeout * self.scale
        t0 = self.out.t0 if self.out.t0 is not None else start
        while True:
            base = self._baseline(tl, cond.probe, t0) if cond.changed is not None else None
            at, note = first_time(tl.samples, cond, start, probes=self.day.plan.probe_names,
                                  stable_for=self.sampling.stable_for, baseline=base)
            if at is not None:
                sr.status, sr.detail = "passed", f"held after {at - start:.2f}s" + (f" ({note})" if note else "")
                sr.took = at - start
                return
            if tl.now() - start >= timeout:
                sr.status = "timeout"
                sr.detail = f"{cond.text()} did not hold within {timeout:g}s" + (
                    f" (×{self.scale:g} of {cond.timeout:g}s)" if self.scale != 1 else "")
                return
            await asyncio.sleep(self.sampling.interval / 2)

    async def _check(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        check = step.check
        assert check is not None
        if check.promql is not None:
            from chaosrunner.gameday.checks import promql_check

            passed, evidence = await promql_check(check, self.probes)
            sr.status, sr.detail = ("passed" if passed else "failed"), evidence
            return
        if check.rpo is not None or check.lost_writes is not None:
            from chaosrunner.gameday.checks import writes_check

            passed, evidence = await writes_check(check, s.companions, s.timeline)
            sr.status, sr.detail = ("passed" if passed else "failed"), evidence
            return
        t0 = self.out.t0 or 0.0
        ok, evidence = holds_now(s.timeline.samples, check, probes=self.day.plan.probe_names,
                                 stable_for=self.sampling.stable_for, now=s.timeline.now(), t0=t0,
                                 baseline=self._baseline(s.timeline, check.probe, t0)
                                 if check.changed is not None else None)
        sr.status, sr.detail = ("passed" if ok else "failed"), evidence

    async def _command(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        cmd = step.command
        assert cmd is not None
        proc = await asyncio.create_subprocess_shell(cmd.run, stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        try:
            data, _ = await asyncio.wait_for(proc.communicate(), cmd.timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            proc.kill()
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            sr.status, sr.detail = "failed", f"timed out after {cmd.timeout:g}s"
            return
        text = data.decode(errors="replace").strip()
        ok = cmd.expect_exit is None or proc.returncode == cmd.expect_exit
        sr.status = "ok" if ok else "failed"
        sr.detail = (f"exit {proc.returncode}: " + text)[:2000]
        s.timeline.event(K.ACTION, name=sr.name, ok=ok, output=text[:2000], exit=proc.returncode)

    async def _manual(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        m = step.manual
        assert m is not None
        answer = await self.operator.ask(sr.name, m.text, m.auto)
        sr.status = {"confirm": "confirmed", "skip": "skipped", "fail": "failed"}.get(answer.answer, answer.answer)
        sr.detail = f"{answer.by}: {answer.note}" if answer.note else answer.by
        s.timeline.event(K.MANUAL, step=sr.name, answer=answer.answer, by=answer.by, note=answer.note)

    async def _note(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        s.timeline.event(K.NOTE, text=step.note or "", author="runbook")
        sr.status = "done"

    async def _experiment(self, s: FaultSession, where: tuple[int, int], step: Step, sr: StepOutcome) -> None:
        statuses = []
        for plan in self.day.nested.get(where, []):
            if self.nested is None:
                sr.status, sr.detail = "skipped", "no runner for nested experiments"
                return
            result = await self.nested(plan)
            self.out.nested.append((sr.name, result))
            statuses.append(f"{plan.name}: {result.status.value}")
            if s.aborted:
                break
        ok = all(r.status.good for _, r in self.out.nested[-len(statuses):]) if statuses else False
        sr.status, sr.detail = ("passed" if ok else "failed"), "; ".join(statuses)


class _Steady:
    probe, state, changed, equals, steady, probes = None, None, None, None, True, None

    def text(self) -> str:
        return "steady state"


_STEADY = _Steady()
