"""Running a game day: the read runbook on a fault session, then its analysis, record and review.

``run_gameday(day, options)`` is ``api.run_plan``'s counterpart: the same ledger, signal guard,
stop conditions, companions (load, writer), record (``run.json``, report.html, junit.xml,
summary.md) — plus the game day's part of the record and ``review.md``. Nested experiments run
on sessions of their own inside the day's (their reports go to ``<run>/experiments/``); their
verdicts roll up into the day's. ``gameday note`` reaches a running day through its inbox in the
state dir (``gameday/<run-id>.notes``), announced by ``gameday/<run-id>.json``.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner import spool
from chaosrunner.analyse.gameday import failback_verdict, holds_now, measure_timing
from chaosrunner.analyse.judge import Analysis, run_status
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.execute.ledger import state_dir
from chaosrunner.execute.recovery import refuse_orphans
from chaosrunner.model.experiment import RtoObjective
from chaosrunner.execute.script import ExperimentScript
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.signals import SignalGuard
from chaosrunner.gameday.read import LoadedGameDay, NestedCtk
from chaosrunner.gameday.script import GameDayOutcome, GameDayScript, Operator
from chaosrunner.planning import Plan, check_environment
from chaosrunner.results import RunResult, new_run_id, redacted, run_document, write_run_json
from chaosrunner.results.document import read_run_record
from chaosrunner.results.history import record_run
from chaosrunner.results.record import Criterion, ExperimentInfo, GameDayPhase, GameDayRecord, GameDayStep, Note
from chaosrunner.timeline import EventKind, Timeline
from chaosrunner.units import format_duration


@dataclass
class GameDayOptions:
    report_dir: Path = Path("reports")
    time_scale: float = 1.0
    from_phase: int = 1
    operator: Operator | None = None              # None: unattended (manual steps answered by their `auto:`)
    confirm: str | None = None
    signals: SignalGuard | None = None
    handle_signals: bool = True
    on_record: Callable[[Any], None] | None = None
    on_step: Callable[[str, str], None] | None = None
    on_start: Callable[[Path, Timeline], None] | None = None
    # samples, load statistics and writes stream to the run folder (chaosrunner.spool); memory keeps
    # this many seconds of them (each probe's value at T+0 is kept apart, for `changed` conditions)
    memory_window: float = 300.0
    spool_trim_every: int = 1024


def inbox_dir() -> Path:
    d = state_dir() / "gameday"
    d.mkdir(parents=True, exist_ok=True)
    return d


def running_gamedays() -> list[dict[str, Any]]:
    """Game days running now (their announcement, whose pid is alive)."""
    out = []
    for f in sorted(inbox_dir().glob("*.json")):
        try:
            info = json.loads(f.read_text())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        out.append(info)
    return out


def add_note(text: str, author: str | None = None) -> dict[str, Any]:
    """Append a note to the running game day's inbox (the newest one). ``LookupError`` when none runs."""
    days = running_gamedays()
    if not days:
        raise LookupError("no game day is running")
    day = days[-1]
    with open(day["inbox"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": text, "author": author or os.environ.get("USER") or "observer"}) + "\n")
    return day


async def _read_inbox(path: Path, tl: Timeline, interval: float) -> None:
    pos = 0
    while True:
        await asyncio.sleep(interval)
        try:
            with path.open(encoding="utf-8") as fh:
                fh.seek(pos)
                chunk = fh.read()
        except FileNotFoundError:
            continue
        lines = chunk.split("\n")
        pos += len(chunk) - len(lines[-1])
        for line in lines[:-1]:
            try:
                item = json.loads(line)
                tl.event(EventKind.NOTE, text=str(item.get("text", "")), author=str(item.get("author", "observer")))
            except ValueError:
                continue


def run_gameday(day: LoadedGameDay, options: GameDayOptions | None = None) -> RunResult:
    options = options or GameDayOptions()
    try:
        return _run(day, options)
    except BaseException as exc:
        day.secrets.scrub(exc)
        raise


def _run(day: LoadedGameDay, options: GameDayOptions) -> RunResult:
    from chaosrunner.api import open_session

    refuse_orphans()
    plan = day.plan
    check_environment(plan, options.confirm)
    model = day.model
    run_id = new_run_id(model.name)
    run_dir = Path(options.report_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    tl.spool_to(run_dir, keep=max([options.memory_window] + [c.window + 60.0 for c in model.abort_when
                                                              if c.error_rate_above is not None]),
                trim_every=options.spool_trim_every)
    if options.on_record is not None:
        tl.subscribe(options.on_record)
    expected_len = max([(ph.at or 0) * options.time_scale for ph in model.phases] + [0.0]) + 600.0
    inbox = inbox_dir() / f"{run_id}.notes"
    announce = inbox_dir() / f"{run_id}.json"
    announce.write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "inbox": str(inbox),
                                    "name": model.name, "run_dir": str(run_dir)}))
    if options.on_start is not None:
        options.on_start(run_dir, tl)
    guard: Any = nullcontext(options.signals) if options.signals is not None or not options.handle_signals \
        else SignalGuard()
    try:
        with guard as signals:
            session, ctx, companions = open_session(plan, tl, run_id, run_dir, expected_len, signals)
            script = GameDayScript(day, ctx, time_scale=options.time_scale, from_phase=options.from_phase,
                                   operator=options.operator, nested=lambda p: _nested(p, run_dir, signals),
                                   settle_timeout=30.0 + model.sampling.stable_for, on_step=options.on_step)
            tl.event(EventKind.RUN_STARTED, run_id=run_id, experiment=model.name, kind="GameDay",
                     time_scale=options.time_scale)
            try:
                outcome = asyncio.run(_session(session, script, inbox, tl))
            finally:
                for c in companions:
                    c.close()
                tl.unspool(remove=False)            # every record back in memory for the analysis
            tl.event(EventKind.RUN_ENDED, run_id=run_id)
            result = _finish(day, plan, tl, outcome, run_id, run_dir, options)
            spool.remove(run_dir)                   # run.json holds it all now
            return result
    finally:
        announce.unlink(missing_ok=True)
        inbox.unlink(missing_ok=True)


async def _session(session: FaultSession, script: GameDayScript, inbox: Path, tl: Timeline) -> GameDayOutcome:
    reader = asyncio.create_task(_read_inbox(inbox, tl, 0.2))
    try:
        async with session:
            return await script.run(session)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _nested(p: Plan | NestedCtk, day_dir: Path, signals: SignalGuard | None = None) -> RunResult:
    """One nested experiment on a session of its own (its own probes, load, stop conditions)."""
    from chaosrunner.api import RunOptions, experiment_result, open_session, recovery_timeout, render_outputs

    if isinstance(p, NestedCtk):
        return await _nested_ctk(p, day_dir, signals)

    run_id = new_run_id(p.name)
    run_dir = day_dir / "experiments" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    rec_timeout = recovery_timeout(p, RunOptions())
    session, ctx, companions = open_session(p, tl, run_id, run_dir, rec_timeout)
    tl.event(EventKind.RUN_STARTED, run_id=run_id, experiment=p.name)
    try:
        async with session:
            outcome = await ExperimentScript(p, ctx, rec_timeout).run(session)
    finally:
        for c in companions:
            c.close()
    tl.event(EventKind.RUN_ENDED, run_id=run_id)
    result = experiment_result(p, tl, outcome, run_id, run_dir)
    render_outputs(result)
    return result


async def _nested_ctk(n: NestedCtk, day_dir: Path, signals: SignalGuard | None) -> RunResult:
    """A nested Chaos Toolkit file, run by ``chaosrunner run`` in a process of its own (chaoslib's
    signal handling needs a main thread; the day's loop goes on sampling meanwhile), in its own
    session so that a Ctrl-C at the terminal reaches the day, which forwards it as SIGTERM: the
    child's chaoslib aborts and runs its rollbacks as ``chaos run`` would. Its record is read back."""
    reports = day_dir / "experiments"
    reports.mkdir(parents=True, exist_ok=True)
    before = set(reports.iterdir())
    log = reports / f"{n.file.stem}.ctk-run.log"
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chaosrunner.cli", "run", str(n.file), "--report-dir", str(reports),
            "--non-interactive", "--json", stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True)
        forwarded = False
        try:
            while proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 0.2)
                except TimeoutError:
                    if signals is not None and signals.count and not forwarded:
                        proc.send_signal(signal.SIGTERM)
                        forwarded = True
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.shield(proc.wait())
            raise
    made = sorted(p for p in set(reports.iterdir()) - before if (p / "run.json").is_file())
    if len(made) != 1:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return RunResult(new_run_id(n.name), n.name, RunStatus.ABORTED, reports,
                         [Verdict("chaos toolkit run", Status.FAILED, "a run record", f"exit {proc.returncode}",
                                  " / ".join(tail) or f"see {log}")],
                         abort_reason=f"the Chaos Toolkit run exited {proc.returncode} without a record")
    record = read_run_record(made[0] / "run.json")
    return RunResult(record.run_id, record.experiment.name, record.status, made[0], list(record.verdicts), record,
                     record.abort_reason)


def _scaled(value: float, scale: float) -> str:
    return format_duration(value * scale) + (f" (×{scale:g} of {format_duration(value)})" if scale != 1 else "")


def gameday_verdicts(day: LoadedGameDay, tl: Timeline, outcome: GameDayOutcome, scale: float) -> list[Verdict]:
    """Every expected timing and success criterion, the nested experiments' verdicts rolled up, and every
    ``check`` step (named ``<phase>: <step>``; a failed one fails the day, as a failed manual step does)."""
    model, names = day.model, day.plan.probe_names
    sampling = model.sampling
    end = tl.events[-1].t if tl.events else 0.0
    starts = dict(outcome.starts)
    if outcome.t0 is not None:
        starts["T+0"] = outcome.t0
    out: list[Verdict] = []
    for name, timing in model.expected.items():
        r = measure_timing(name, timing.within * scale, timing.from_, timing.until, starts.get(timing.from_),
                           tl.samples, probes=names, stable_for=sampling.stable_for, end=end)
        v = r.verdict(sampling.interval)
        out.append(Verdict(v.name, v.status, f"≤ {_scaled(timing.within, scale)} from {timing.from_} until "
                                             f"{timing.until.text()}", v.measured, v.detail, v.value, v.precision,
                           "objective", v.data))
    reverts = [e.t for e in tl.events_of(EventKind.FAULT_REVERTED)]
    analysis = _analysis(day, tl, scale)
    judged = {v.name: v for v in analysis.verdicts()}
    for c in model.success_criteria:
        label = c.name
        if c.kind in ("rpo", "rto"):
            rolled = [v for n, v in judged.items() if n == c.kind or n.startswith(c.kind + " ")]
            for v in rolled or [Verdict(c.kind, Status.UNKNOWN, "", "not measured", "no fault window",
                                        kind="objective")]:
                out.append(Verdict(label or v.name, v.status, v.expected, v.measured, v.detail, v.value,
                                   v.precision, "objective", v.data))
        elif c.kind == "no_corruption":
            v = judged.get("data integrity") or Verdict("data integrity", Status.UNKNOWN, "", "not measured")
            out.append(Verdict(label or "no data corruption", v.status, v.expected, v.measured, v.detail,
                               kind="objective"))
        elif c.kind == "lost_writes":
            integ = analysis.measurements().get("integrity") or {}
            lost = integ.get("lost")
            bound = int(c.lost_writes or 0)
            st = Status.UNKNOWN if lost is None else Status.PASSED if lost <= bound else Status.FAILED
            out.append(Verdict(label or "acknowledged writes lost", st, f"≤ {bound}",
                               "not read back" if lost is None else f"{lost} of {integ.get('acknowledged')}",
                               integ.get("note") or "", value=lost, kind="objective"))
        elif c.failback is not None:
            fb = c.failback
            v = failback_verdict(tl.samples, fb.probe, fb.to, fb.within * scale, max(reverts) if reverts else None,
                                 sampling.interval)
            out.append(Verdict(label or v.name, v.status, f"{fb.probe} back on {fb.to} ≤ "
                                                          f"{_scaled(fb.within, scale)} after the restore",
                               v.measured, v.detail, v.value, v.precision, "objective"))
        elif c.condition is not None:
            ok, evidence = holds_now(tl.samples, c.condition, probes=names, stable_for=sampling.stable_for, now=end,
                                     t0=outcome.t0 or 0.0)
            st = Status.UNKNOWN if ok is None else Status.PASSED if ok else Status.FAILED
            out.append(Verdict(label or c.condition.text(), st, f"{c.condition.text()} at the end", evidence,
                               kind="objective"))
    for _label, result in outcome.nested:
        for v in result.verdicts:
            out.append(Verdict(f"{result.name}: {v.name}", v.status, v.expected, v.measured, v.detail, v.value,
                               v.precision, v.kind, v.data))
    for ph in outcome.phases:
        for step in ph.steps:
            if step.kind == "check":                # an assertion of the runbook: judged like a criterion
                st = Status.PASSED if step.status == "passed" else Status.FAILED
                name, n = f"{ph.name}: {step.name}", 2
                while any(v.name == name for v in out):          # one JUnit test case each: unique names
                    name, n = f"{ph.name}: {step.name} ({n})", n + 1
                out.append(Verdict(name, st, "holds when the step runs", step.detail or step.status, kind="hypothesis"))
            if step.kind == "manual" and step.status == "failed":
                out.append(Verdict(f"manual step: {step.name}", Status.FAILED, "confirmed", "failed", step.detail,
                                   kind="hypothesis"))
    for name in ("steady state before", "steady state after", "no split brain", "rollbacks"):
        if name in judged:
            out.insert(0, judged[name]) if name.startswith("steady state") else out.append(judged[name])
    return out


def _analysis(day: LoadedGameDay, tl: Timeline, scale: float) -> Analysis:
    exp = day.plan.experiment.model
    rto = exp.objectives.rto
    scaled = rto.model_copy(update={"within": rto.within * scale}) if isinstance(rto, RtoObjective) else \
        rto * scale if rto else None
    obj = exp.objectives.model_copy(update={"rto": scaled})
    return Analysis(exp.model_copy(update={"objectives": obj}), day.plan.probe_names, tl)


def _finish(day: LoadedGameDay, plan: Plan, tl: Timeline, outcome: GameDayOutcome, run_id: str, run_dir: Path,
            options: GameDayOptions) -> RunResult:
    scale = options.time_scale
    verdicts = gameday_verdicts(day, tl, outcome, scale)
    status = run_status(verdicts, outcome.aborted, outcome.revert_failures)
    result = RunResult(run_id, day.model.name, status, run_dir, verdicts, abort_reason=outcome.aborted)
    analysis = _analysis(day, tl, scale)
    record = run_document(plan, tl, result, analysis, outcome.aborted, outcome.errors, outcome.revert_failures)
    m = day.model
    timing_names = {f"expected {n}" for n in m.expected}
    criteria = [Criterion(name=v.name, expected=v.expected, measured=v.measured + (f" — {v.detail}" if v.detail
                                                                                   else ""), status=v.status.value)
                for v in verdicts]
    actions = [f"{'Timing' if v.name in timing_names else 'Criterion'} “{v.name}” "
               f"{'was not measured' if v.status is Status.UNKNOWN else 'missed'}: expected {v.expected}, measured "
               f"{v.measured}. Find out why and fix it (or the runbook's expectation)."
               for v in verdicts if v.status in (Status.FAILED, Status.UNKNOWN)]
    if outcome.aborted:
        actions.insert(0, f"The game day was aborted ({outcome.aborted}): finish the remaining phases in a new one.")
    t0 = outcome.t0 or 0.0
    phases = [GameDayPhase(name=ph.name, started=ph.started, ended=ph.ended,
                           steps=[GameDayStep(kind=s.kind, name=s.name, status=s.status, t=s.t, took=s.took,
                                              detail=s.detail) for s in ph.steps]) for ph in outcome.phases]
    notes = [Note(t=e.t, author=str(e.data.get("author") or "team"), text=str(e.data.get("text", "")))
             for e in tl.events_of(EventKind.NOTE) if not e.data.get("t0")]
    notes += [Note(t=e.t, author=str(e.data.get("by")), text=f"{e.data.get('answer')} “{e.data.get('step')}”"
                   + (f": {e.data.get('note')}" if e.data.get("note") else ""))
              for e in tl.events_of(EventKind.MANUAL)]
    notes.sort(key=lambda n: n.t or 0.0)
    if scale != 1:
        notes.insert(0, Note(t=t0, author="chaosrunner", text=f"compressed clock: --time-scale {scale:g} (every "
                                                             f"`at`, `within` and timeout ×{scale:g})"))
    info = ExperimentInfo(name=m.name, description=m.scenario or m.description, hypothesis=m.scenario,
                          file=str(day.file), kind="GameDay", severity=m.severity,
                          objectives=record.experiment.objectives, raw=day.raw)
    record = record.model_copy(update={
        "experiment": info, "notes": notes,
        "gameday": GameDayRecord(phases=phases, criteria=criteria, action_items=actions, roles=dict(m.roles))})
    result.record = redacted(record, day.secrets.redact_obj)
    result.verdicts, result.abort_reason = result.record.verdicts, result.record.abort_reason
    write_run_json(run_dir, result.record)
    record_run(run_dir, result.record)          # reports/history.sqlite, as every run (never fails the day)
    try:
        from chaosrunner.report import render_run

        render_run(run_dir)
    except ImportError:
        pass
    from chaosrunner.gameday.review import write_review

    write_review(result.record, run_dir, t0)
    return result
