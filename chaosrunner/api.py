"""chaosrunner as a library: load, plan and run experiments; everything the CLI does goes through here.

    from chaosrunner import api
    results = api.run("experiments/db-failover-async.yaml", report_dir="reports")
    print(results[0].status, results[0].run_dir)

The data flows one way: ``load`` (documents) → ``plan`` → ``execute`` (engine) → timeline →
``analyse`` → results and report.
"""
from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.analyse.judge import Analysis, run_status
from chaosrunner.errors import ChaosRunnerError, ConfigError
from chaosrunner.execute import ledger as ledger_mod
from chaosrunner.execute.engine import Engine, EngineOptions
from chaosrunner.execute.recovery import Recovered, recover, refuse_orphans
from chaosrunner.model.traffic import LoadInputError
from chaosrunner.planning import Plan, check_environment, make_plan
from chaosrunner.planning.safety import PRODUCTION_NAMES
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.read.documents import LoadedExperiment, load_experiments
from chaosrunner.results import RunResult, new_run_id, plan_document, run_document, write_run_json
from chaosrunner.timeline import EventKind, Timeline


def load_experiment(path: str | Path, targets: str | Path | None = None,
                    variables: dict[str, str] | None = None) -> list[LoadedExperiment]:
    return load_experiments(path, targets, variables)


def plan(path: str | Path, targets: str | Path | None = None, variables: dict[str, str] | None = None,
         only: str | None = None) -> list[Plan]:
    """Load and plan every experiment of a file, touching nothing."""
    exps = load_experiments(path, targets, variables)
    if only is not None:
        picked = [e for e in exps if e.model.name == only]
        if not picked:
            raise ConfigError(f"no experiment named {only!r} in {path}",
                              hint="experiments: " + ", ".join(e.model.name for e in exps))
        exps = picked
    return [make_plan(e) for e in exps]


@dataclass
class Validation:
    name: str
    plan: Plan | None
    note: str | None = None


def validate(path: str | Path, targets: str | Path | None = None,
             variables: dict[str, str] | None = None) -> list[Validation]:
    """Check a file: structure, references and — when it has an inventory — the whole plan."""
    out = []
    for exp in load_experiments(path, targets, variables):
        steps = exp.model.method + exp.model.rollback
        if exp.inventory is None and any(getattr(s.action, "target", None) for s in steps if s.action is not None):
            out.append(Validation(exp.model.name, None, "targets not checked: no inventory (add `targets:` or "
                                                        "pass --targets to check them too)"))
        else:
            out.append(Validation(exp.model.name, make_plan(exp)))
        check_load(exp)
    return out


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
    on_record: Callable[[Any], None] | None = None     # live view: called with every timeline record
    render_report: bool = True


def _recovery_timeout(p: Plan, options: RunOptions) -> float:
    if options.recovery_timeout is not None:
        return options.recovery_timeout
    model = p.experiment.model
    if model.objectives.rto is not None:
        return model.objectives.rto + model.sampling.stable_for + 5.0
    return 30.0 + model.sampling.stable_for


def _confirmation(p: Plan, options: RunOptions) -> str | None:
    """``--confirm``, else (interactive runs against production) the environment's name typed at a prompt."""
    if options.confirm is not None or options.ask is None or p.environment.lower() not in PRODUCTION_NAMES:
        return options.confirm
    return options.ask(f"{p.name} targets the {p.environment!r} environment ({', '.join(p.blast_radius)}). "
                       f"Type {p.environment!r} to go on").strip()


def run_plan(p: Plan, options: RunOptions | None = None) -> RunResult:
    options = options or RunOptions()
    refuse_orphans()
    check_environment(p, _confirmation(p, options))
    exp = p.experiment
    run_id = new_run_id(p.name)
    run_dir = Path(options.report_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    if options.on_record is not None:
        tl.subscribe(options.on_record)
    inv = exp.inventory.model if exp.inventory else None
    ctx = ProbeContext(timeline=tl, inventory=inv, base_url=inv.base_url if inv else None)
    probes = [build_probe(spec, name, ctx) for spec, name in zip(exp.model.probes(), p.probe_names, strict=True)]
    book = ledger_mod.Ledger(run_id=run_id)
    engine = Engine(p, tl, book, probes, EngineOptions(recovery_timeout=_recovery_timeout(p, options),
                                                       handle_signals=options.handle_signals))
    engine.probes_context = ctx
    tl.event(EventKind.RUN_STARTED, run_id=run_id, experiment=p.name)
    try:
        load = _attach_load(engine, p, tl, run_dir, engine.options.recovery_timeout)
    except ChaosRunnerError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)    # created by this call (unique id): bad input leaves nothing
        if isinstance(exc, LoadInputError):
            raise load_config_error(exp, exc) from None
        raise
    writer = _attach_writer(engine, exp.model.writer, tl, run_id)
    try:
        outcome = asyncio.run(engine.run())
    except LoadInputError as exc:                     # the warm-up: every request failed, nothing was injected
        if load is not None:
            load.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise load_config_error(exp, exc) from None
    finally:
        if writer is not None:
            writer.close()
        if load is not None:
            load.stop()
    tl.event(EventKind.RUN_ENDED, run_id=run_id)
    analysis = Analysis(exp.model, p.probe_names, tl)
    verdicts = analysis.verdicts()
    status = run_status(verdicts, outcome.aborted, outcome.revert_failures)
    result = RunResult(run_id, p.name, status, run_dir, verdicts, abort_reason=outcome.aborted)
    result.data = run_document(p, tl, result, analysis, outcome.aborted, outcome.errors, outcome.revert_failures)
    write_run_json(run_dir, result.data, exp.secrets.redact_obj)
    if options.render_report:
        render_outputs(result)
    return result


WARMUP_TIMEOUT = 10.0


def _attach_load(engine: Engine, p: Plan, tl: Timeline, run_dir: Path, recovery_timeout: float) -> Any:
    """Locust runs from before the steady-state check (warm-up) until after the steady state after.

    Preflight (locustfile, user classes, host) happens here, before anything is touched. If
    Locust dies mid-run the engine aborts: faults are reverted and the run ends with exit 3.
    """
    spec = p.experiment.model.load
    if spec is None:
        return None
    inv = p.experiment.inventory.model if p.experiment.inventory else None
    from chaosrunner.traffic import LoadRunner
    from chaosrunner.analyse.slo import window_stats

    span = p.expected_duration + recovery_timeout + 30.0
    holder: dict[str, Any] = {}

    def died(reason: str) -> None:
        loop = holder.get("loop")
        if loop is not None:                      # the details are in the ERROR event and locust.log
            first = reason.strip().splitlines()[0].rstrip(":") if reason.strip() else "no reason given"
            loop.call_soon_threadsafe(engine.abort, f"the load generator died: {first} (see locust.log)")

    runner = LoadRunner(spec, run_dir, tl, base_dir=p.experiment.file.parent, run_time=span, on_died=died,
                        default_host=inv.base_url if inv else None)      # base_url: only where load sets no host
    runner.preflight()

    async def start() -> None:
        holder["loop"] = asyncio.get_running_loop()
        await asyncio.to_thread(runner.start)
        # warm-up: the first statistics reach the timeline; every request failing there is bad input
        await asyncio.to_thread(runner.warm_up, WARMUP_TIMEOUT)

    async def stop() -> None:
        await asyncio.to_thread(runner.stop)

    for cond in p.experiment.model.abort_when:
        if cond.error_rate_above is not None:
            def check(cond: Any = cond) -> str | None:
                stats = window_stats(tl, cond.window)
                if stats.requests and stats.error_rate > cond.error_rate_above:
                    return (f"error rate {stats.error_rate:.1%} over the last {cond.window:g}s is above "
                            f"{cond.error_rate_above:.1%}")
                return None
            engine.extra_abort_checks.append(check)
    engine.before_steady.insert(0, start)
    engine.after_all.append(stop)
    return runner


def _attach_writer(engine: Engine, spec: Any, tl: Timeline, run_id: str) -> Any:
    """The data-integrity writer runs from before the steady-state check until after recovery."""
    if spec is None:
        return None
    from chaosrunner.writer import Writer

    writer = Writer(spec)
    started = []

    async def start() -> None:
        await asyncio.to_thread(writer.start, tl, run_id)     # raises WriterError before any fault
        started.append(True)

    async def finish() -> None:
        if not started:
            return
        await asyncio.to_thread(writer.stop)
        await asyncio.to_thread(writer.readback)
        if spec.cleanup:
            await asyncio.to_thread(writer.cleanup)

    engine.before_steady.append(start)
    engine.after_all.insert(0, finish)
    return writer


def render_outputs(result: RunResult) -> None:
    """Write report.html, junit.xml and summary.md next to run.json (when the report package is there)."""
    try:
        from chaosrunner.report import render_run
    except ImportError:
        return
    render_run(result.run_dir)


def run(path: str | Path, targets: str | Path | None = None, variables: dict[str, str] | None = None,
        only: str | None = None, options: RunOptions | None = None) -> list[RunResult]:
    """Plan every experiment of the file first (nothing is touched if any is invalid), then run each."""
    plans = plan(path, targets, variables, only)
    return [run_plan(p, options) for p in plans]


__all__ = ["Recovered", "RunOptions", "Validation", "check_environment", "load_experiment", "plan",
           "plan_document", "recover", "run", "run_plan", "validate"]
