"""chaosrunner as a library: load, plan and run experiments; everything the CLI does goes through here.

    from chaosrunner import api
    results = api.run("experiments/db-failover-async.yaml", report_dir="reports")
    print(results[0].status, results[0].run_dir)

The data flows one way: ``read`` (documents) → ``planning`` → ``execute`` (fault session + script) → timeline →
``analyse`` → results and report.
"""
from __future__ import annotations

import asyncio
import shutil
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner import spool
from chaosrunner.analyse.judge import Analysis, run_status
from chaosrunner.errors import ChaosRunnerError, ConfigError
from chaosrunner.execute import ledger as ledger_mod
from chaosrunner.execute.script import ExperimentOutcome, ExperimentScript
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.signals import SignalGuard
from chaosrunner.execute.stops import stop_conditions
from chaosrunner.execute.recovery import Recovered, recover, refuse_orphans
from chaosrunner.model.traffic import LoadInputError
from chaosrunner.planning import Plan, check_environment, make_plan
from chaosrunner.planning.safety import PRODUCTION_NAMES
from chaosrunner.planning.timescale import compress
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.read.documents import LoadedExperiment, read_experiments
from chaosrunner.results.history import record_run
from chaosrunner.results import (
    RunResult,
    new_run_id,
    plan_document,
    redacted,
    redacted_plan,
    redacting,
    run_document,
    write_run_json,
)
from chaosrunner.timeline import EventKind, Timeline


def load_experiment(path: str | Path, targets: str | Path | None = None,
                    variables: dict[str, str] | None = None) -> list[LoadedExperiment]:
    return read_experiments(path, targets, variables)


def plan(path: str | Path, targets: str | Path | None = None, variables: dict[str, str] | None = None,
         only: str | None = None, time_scale: float = 1.0, offline: bool = False) -> list[Plan]:
    """Load and plan every experiment of a file, touching nothing. ``time_scale``: on a compressed
    clock (``planning.timescale``: fault durations, pauses and load ×scale; objectives as written).
    ``offline``: no driver is asked, so no target is reached (``make_plan``)."""
    exps = [compress(e, time_scale) for e in read_experiments(path, targets, variables)]
    if only is not None:
        picked = [e for e in exps if e.model.name == only]
        if not picked:
            raise ConfigError(f"no experiment named {only!r} in {path}",
                              hint="experiments: " + ", ".join(e.model.name for e in exps))
        exps = picked
    return [_planned(e, offline) for e in exps]


def plan_ctk(path: str | Path) -> dict[str, Any]:
    """The plan of a Chaos Toolkit file, as ``run`` runs it (chaoslib's ``run_experiment``): its
    hypothesis, method, rollbacks and controls as written, and what chaosrunner samples (``ctk.plan``)."""
    from chaosrunner.ctk import load_ctk
    from chaosrunner.ctk.plan import ctk_plan

    return ctk_plan(load_ctk(path))


def _planned(exp: LoadedExperiment, offline: bool = False) -> Plan:
    """``make_plan``, with its words for people (probe names, what each fault does) free of secrets; the
    text of an error it raises too. The faults keep their resolved values: drivers need them."""
    try:
        return redacted_plan(make_plan(exp, offline))
    except ChaosRunnerError as exc:
        raise exp.secrets.scrub(exc) from None


@dataclass
class Validation:
    name: str
    plan: Plan | None
    note: str | None = None


def validate(path: str | Path, targets: str | Path | None = None,
             variables: dict[str, str] | None = None, offline: bool = False) -> list[Validation]:
    """Check a file: structure, references and — when it has an inventory — the whole plan.

    ``offline``: without asking any driver (no cluster, account or proxy is reached): each fault's
    target and driver are checked, not what the driver would find there. For files meant to run
    elsewhere, such as a CronJob's with ``in_cluster: true`` targets (``schedule export``)."""
    from chaosrunner.ctk import is_ctk_file, load_ctk

    if is_ctk_file(path):           # checked as `chaos validate` checks it, errors located in the file
        doc = load_ctk(path)
        return [Validation(doc.title, None, "Chaos Toolkit experiment, checked by chaoslib; "
                                            "runs in compatibility mode")]
    out = []
    for exp in read_experiments(path, targets, variables):
        steps = exp.model.method + exp.model.rollback
        if exp.inventory is None and any(getattr(s.action, "target", None) for s in steps if s.action is not None):
            out.append(Validation(exp.model.name, None, "targets not checked: no inventory (add `targets:` or "
                                                        "pass --targets to check them too)"))
        elif offline:
            p = _planned(exp, offline=True)
            out.append(Validation(exp.model.name, p, "checked offline, targets not reached: drivers "
                                                     + (", ".join(p.drivers) or "none")))
        else:
            out.append(Validation(exp.model.name, _planned(exp)))
        try:
            check_load(exp)
        except ChaosRunnerError as exc:
            raise exp.secrets.scrub(exc) from None
    return out


def file_kind(path: str | Path) -> str:
    """``GameDay`` for a game-day file (a mapping with ``kind: GameDay``: ``chaosrunner.gameday`` reads
    it, building on this module), else ``Experiment`` — a file that does not parse too: the experiment
    reader reports its error."""
    from chaosrunner.read.parse import read_yaml

    try:
        data, _ = read_yaml(Path(path))
    except ChaosRunnerError:
        return "Experiment"
    return "GameDay" if isinstance(data, dict) and data.get("kind") == "GameDay" else "Experiment"


def load_config_error(exp: LoadedExperiment, exc: LoadInputError) -> ConfigError:
    """A load setup that cannot work, located at the ``load:`` node it is about."""
    return ConfigError(exc.message, exp.location("load", *exc.field), exc.hint)


def check_load(exp: LoadedExperiment) -> None:
    """What ``validate`` checks of the load without touching a target: the locustfile imports and has users.

    It imports the file in a separate interpreter (about a second), so ``plan`` does not; ``run``
    checks it again, with the hosts, in the load's preflight.
    """
    spec = exp.model.load
    if spec is None or spec.locustfile is None:
        return
    from chaosrunner.traffic.preflight import inspect_locustfile

    path = spec.resolve_locustfile(exp.file.parent)
    assert path is not None
    try:
        inspect_locustfile(path, written=spec.locustfile)
    except LoadInputError as exc:
        raise load_config_error(exp, exc) from None


@dataclass
class RunOptions:
    report_dir: Path = Path("reports")
    confirm: str | None = None
    # asks a person (the terminal's prompt) and returns the answer; None: nobody to ask (--non-interactive,
    # scheduled runs, CI, a library call), so whatever needs a person's word must come as an option
    ask: Callable[[str], str] | None = None
    recovery_timeout: float | None = None
    handle_signals: bool = True
    # the caller's signal guard (the CLI holds one until it exits, so a late Ctrl-C only counts);
    # None: run_plan installs its own while it runs (when handle_signals)
    signals: SignalGuard | None = None
    on_record: Callable[[Any], None] | None = None     # live view: called with every timeline record
    render_report: bool = True


def recovery_timeout(p: Plan, options: RunOptions) -> float:
    """How long the run waits for the steady state after the faults: ``--recovery-timeout``, else the RTO
    objective + ``stable_for`` + 5 s, else 30 s + ``stable_for``."""
    if options.recovery_timeout is not None:
        return options.recovery_timeout
    model = p.experiment.model
    if model.objectives.rto_within is not None:
        return model.objectives.rto_within + model.sampling.stable_for + 5.0
    return 30.0 + model.sampling.stable_for


def _confirmation(p: Plan, options: RunOptions) -> str | None:
    """``--confirm``, else (interactive runs against production) the environment's name typed at a prompt."""
    if options.confirm is not None or options.ask is None or p.environment.lower() not in PRODUCTION_NAMES:
        return options.confirm
    return options.ask(f"{p.name} targets the {p.environment!r} environment ({', '.join(p.blast_radius)}). "
                       f"Type {p.environment!r} to go on").strip()


def run_plan(p: Plan, options: RunOptions | None = None) -> RunResult:
    """Run one planned experiment. Nothing that leaves it carries a secret of the experiment's: the
    records a live view is given, the result (verdicts, abort reason, run.json) and an error's text are
    redacted; the ledger holds secret references, never values; probes and Locust redact before they cut."""
    try:
        return _run_plan(p, options or RunOptions())
    except BaseException as exc:
        p.experiment.secrets.scrub(exc)
        raise


def _run_plan(p: Plan, options: RunOptions) -> RunResult:
    refuse_orphans()
    check_environment(p, _confirmation(p, options))
    exp = p.experiment
    run_id = new_run_id(p.name)
    run_dir = Path(options.report_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    # memory stays flat however long the run (chaosrunner.spool): the last 5 minutes (or the longest
    # error-rate window) in memory, everything on disk
    tl.spool_to(run_dir, keep=max([300.0] + [c.window + 60.0 for c in exp.model.abort_when
                                             if c.error_rate_above is not None]))
    if options.on_record is not None:
        tl.subscribe(redacting(options.on_record, exp.secrets))
    recovery = recovery_timeout(p, options)
    guard: Any = nullcontext(options.signals) if options.signals is not None or not options.handle_signals \
        else SignalGuard()
    with guard as signals:
        session, ctx, companions = open_session(p, tl, run_id, run_dir, recovery, signals)
        tl.event(EventKind.RUN_STARTED, run_id=run_id, experiment=p.name)
        load_error: LoadInputError | None = None
        try:
            outcome = asyncio.run(_run_session(session, ExperimentScript(p, ctx, recovery)))
        except LoadInputError as exc:                 # the warm-up: every request failed, nothing was injected
            load_error = exc
        finally:
            for c in companions:
                c.close()
            tl.unspool(remove=False)                # every record back in memory for the analysis
        if load_error is not None:                  # bad input: no run happened, so no run folder is left
            shutil.rmtree(run_dir, ignore_errors=True)
            raise load_config_error(exp, load_error) from None
        tl.event(EventKind.RUN_ENDED, run_id=run_id)
        # the signal guard stays on until the report is written: a second Ctrl-C only counts
        result = experiment_result(p, tl, outcome, run_id, run_dir)
        spool.remove(run_dir)                       # run.json holds it all now
        assert result.record is not None
        record_run(run_dir, result.record)          # reports/history.sqlite (never fails the run)
        if options.render_report:
            render_outputs(result)
    return result


def open_session(p: Plan, tl: Timeline, run_id: str, run_dir: Path, span: float,
                 signals: SignalGuard | None = None) -> tuple[FaultSession, ProbeContext, list[Any]]:
    """A fault session for one run of a plan — its probes, companions (load, writer), ledger and
    stop conditions — the same for an experiment, a game day and an experiment nested in one.
    ``span``: how long after the plan's expected duration the load may have to run (the recovery)."""
    exp = p.experiment
    model = exp.model
    inv = exp.inventory.model if exp.inventory else None
    ctx = ProbeContext(timeline=tl, inventory=inv, base_url=inv.base_url if inv else None, secrets=exp.secrets)
    probes = [build_probe(spec, name, ctx) for spec, name in zip(model.probes(), p.probe_names, strict=True)]
    companions = _companions(p, tl, run_dir, run_id, span)
    ledger = ledger_mod.Ledger(run_id=run_id, secrets=exp.secrets)      # writes secret references only
    session = FaultSession(tl, ledger, probes, interval=model.sampling.interval,
                           stop_conditions=stop_conditions(model.abort_when, p.probe_names,
                                                           inv.prometheus if inv else None, model.sampling.interval,
                                                           inventory=inv),
                           companions=companions, signals=signals, fine=model.sampling.fine,
                           stable_for=model.sampling.stable_for, watch=model.sampling.watch)
    return session, ctx, companions


def experiment_result(p: Plan, tl: Timeline, outcome: ExperimentOutcome, run_id: str, run_dir: Path) -> RunResult:
    """Judge an experiment's run and write its record (run.json), redacted; the report is separate."""
    exp = p.experiment
    analysis = Analysis(exp.model, p.probe_names, tl)
    verdicts = analysis.verdicts()
    status = run_status(verdicts, outcome.aborted, outcome.revert_failures)
    result = RunResult(run_id, p.name, status, run_dir, verdicts, abort_reason=outcome.aborted)
    record = run_document(p, tl, result, analysis, outcome.aborted, outcome.errors, outcome.revert_failures)
    result.record = redacted(record, exp.secrets.redact_obj)     # the typed run.json, as written
    result.verdicts, result.abort_reason = result.record.verdicts, result.record.abort_reason   # redacted too
    write_run_json(run_dir, result.record)
    return result


async def _run_session(session: FaultSession, script: ExperimentScript) -> ExperimentOutcome:
    async with session:
        return await script.run(session)


def _companions(p: Plan, tl: Timeline, run_dir: Path, run_id: str, recovery_timeout: float) -> list[Any]:
    """Load first (its warm-up precedes the writer), then the writer; preflight before anything is touched.

    Locust runs from before the steady-state check (warm-up) until after the steady state after;
    if it dies mid-run the session aborts: faults are reverted and the run ends with exit 3.
    The writer writes from before the steady-state check and reads back after recovery."""
    exp = p.experiment
    out: list[Any] = []
    if exp.model.load is not None:
        from chaosrunner.traffic.companion import LoadCompanion

        inv = exp.inventory.model if exp.inventory else None
        load = LoadCompanion(exp.model.load, run_dir, tl, base_dir=exp.file.parent,
                             run_time=p.expected_duration + recovery_timeout + 30.0,
                             default_host=inv.base_url if inv else None, secrets=exp.secrets)
        try:
            load.preflight()
        except ChaosRunnerError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)    # created by this call (unique id): bad input leaves nothing
            if isinstance(exc, LoadInputError):
                raise load_config_error(exp, exc) from None
            raise
        out.append(load)
    if exp.model.writer is not None:
        from chaosrunner.writer.companion import WriterCompanion

        out.append(WriterCompanion(exp.model.writer, run_id))
    return out


def render_outputs(result: RunResult) -> None:
    """Write report.html, junit.xml and summary.md next to run.json (when the report package is there)."""
    try:
        from chaosrunner.report import render_run
    except ImportError:
        return
    render_run(result.run_dir)


def run(path: str | Path, targets: str | Path | None = None, variables: dict[str, str] | None = None,
        only: str | None = None, options: RunOptions | None = None, time_scale: float = 1.0) -> list[RunResult]:
    """Plan every experiment of the file first (nothing is touched if any is invalid), then run each.
    A Chaos Toolkit file runs in compatibility mode (``chaosrunner.ctk.run``)."""
    from chaosrunner.ctk import CtkOptions, is_ctk_file, run_ctk

    if is_ctk_file(path):
        opts = options or RunOptions()
        return [run_ctk(path, CtkOptions(report_dir=opts.report_dir, variables=dict(variables or {}),
                                         render_report=opts.render_report, on_record=opts.on_record))]
    plans = plan(path, targets, variables, only, time_scale)
    return [run_plan(p, options) for p in plans]


__all__ = ["Recovered", "RunOptions", "Validation", "check_environment", "load_experiment", "plan",
           "plan_ctk", "plan_document", "recover", "run", "run_plan", "validate"]
