"""chaosrunner as a library: load, plan and run experiments; everything the CLI does goes through here.

    from chaosrunner import api
    results = api.run("experiments/db-failover-async.yaml", report_dir="reports")
    print(results[0].status, results[0].run_dir)

The data flows one way: ``load`` (documents) → ``plan`` → ``execute`` (engine) → timeline →
``analyse`` → results and report.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import secrets as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner import ledger as ledger_mod
from chaosrunner.analyse.failover import failback_verdicts, failover_results, failover_verdicts, split_brain_verdict
from chaosrunner.analyse.integrity import integrity, integrity_verdicts
from chaosrunner.analyse.recovery import recovery_from_timeline, rto_verdicts
from chaosrunner.analyse.steady import held_during_faults, rollback_verdict, steady_state_verdicts
from chaosrunner.analyse.verdict import Status, Verdict, unmeasured_objectives
from chaosrunner.documents import LoadedExperiment, load_experiments
from chaosrunner.drivers import registry
from chaosrunner.engine import Engine, EngineOptions
from chaosrunner.errors import ChaosRunnerError, ConfigError, PlanError
from chaosrunner.load.spec import LoadInputError
from chaosrunner.plan import Plan, make_plan
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.results import RunResult, iso, versions, write_run_json
from chaosrunner.timeline import EventKind, Timeline


class OrphanedFaults(ChaosRunnerError):
    """Faults of an earlier run were never reverted; `chaosrunner recover` must run first."""

    exit_code = 4


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
    from chaosrunner.load.preflight import inspect_locustfile

    path = spec.resolve_locustfile(exp.file.parent)
    assert path is not None
    try:
        inspect_locustfile(path, written=spec.locustfile)
    except LoadInputError as exc:
        raise load_config_error(exp, exc) from None


def check_environment(p: Plan, confirm: str | None) -> None:
    """The safety gate: targets outside loopback need a named environment; production needs --confirm."""
    inv = p.experiment.inventory
    if p.outside_loopback and (inv is None or "environment" not in inv.raw):
        raise PlanError(f"targets outside loopback ({', '.join(p.outside_loopback)}) need an inventory that names "
                        "its environment", None,
                        "add `environment: staging` (or the real name) to the inventory")
    if p.environment.lower() in ("production", "prod") and confirm != p.environment:
        raise ConfigError(f"the inventory's environment is {p.environment!r}: confirm with --confirm {p.environment}")


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{slug}-{_random.token_hex(2)}"


@dataclass
class RunOptions:
    report_dir: Path = Path("reports")
    confirm: str | None = None
    non_interactive: bool = True
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


def role_probe(p: Plan, wanted: str | None = None) -> str | None:
    """The role probe an objective refers to: the named one, else the only one."""
    roles = [n for n, spec in zip(p.probe_names, p.experiment.model.probes(), strict=True) if spec.type == "role"]
    if wanted is not None:
        return wanted if wanted in roles else None
    return roles[0] if len(roles) == 1 else None


def judge(p: Plan, tl: Timeline) -> list[Verdict]:
    """All verdicts of a run, from its timeline alone (pure: no I/O, no clock)."""
    model = p.experiment.model
    obj = model.objectives
    verdicts = steady_state_verdicts(tl, p.probe_names)
    if p.probe_names:
        if obj.rto is not None:
            recovery = recovery_from_timeline(tl, p.probe_names, model.sampling.interval, model.sampling.stable_for)
            verdicts += rto_verdicts(recovery, obj.rto)
        elif not (obj.failover or obj.rpo is not None):
            verdicts.append(held_during_faults(tl, p.probe_names))
    for which, judge_fn in (("failover", failover_verdicts), ("failback", failback_verdicts)):
        objective = getattr(obj, which)
        if objective is None:
            continue
        probe = role_probe(p, objective.probe)
        if probe is None:
            verdicts.append(Verdict(which, Status.UNKNOWN, f"≤ {objective.within:g}s", "no role probe",
                                    "add a steady-state probe of type role (or name it in the objective)",
                                    kind="objective"))
            continue
        verdicts += judge_fn(_failovers(p, tl, probe), objective.within)
    roles = {role_probe(p, getattr(getattr(obj, w), "probe", None)) for w in ("failover", "failback")
             if getattr(obj, w) is not None}
    for probe in sorted(r for r in roles if r is not None):
        verdicts.append(split_brain_verdict(tl.samples, probe))
    if model.load is not None and obj.slo:
        from chaosrunner.load.slo import slo_verdicts

        verdicts += slo_verdicts(tl, obj.slo)
    if model.writer is not None:
        verdicts += integrity_verdicts(integrity(tl.writes, 1.0 / model.writer.rate), obj.rpo)
    rollbacks = rollback_verdict(tl)
    if rollbacks is not None:
        verdicts.append(rollbacks)
    return verdicts


def _failovers(p: Plan, tl: Timeline, probe: str) -> list[Any]:
    steady = [n for n in p.probe_names if n != probe]
    return failover_results(tl.samples, tl.events, probe, steady, p.experiment.model.sampling.interval)


def status_of(verdicts: list[Verdict], aborted: str | None, revert_failures: list[str]) -> str:
    """The run's status: revert_failed, aborted, failed, inconclusive (no verdict failed, but a
    declared objective could not be measured: exit 1) or held (everything declared was measured
    and passed). Unmeasured hypotheses (e.g. "no fault was injected") do not make a run inconclusive."""
    if revert_failures:
        return "revert_failed"
    if aborted:
        return "aborted"
    if any(v.status is Status.FAILED for v in verdicts):
        return "failed"
    if unmeasured_objectives(verdicts):
        return "inconclusive"
    return "held"


def run_plan(p: Plan, options: RunOptions | None = None) -> RunResult:
    options = options or RunOptions()
    orphans = ledger_mod.orphans()
    if orphans:
        listed = "; ".join(f"{e.fault_type} on {e.target} (run {e.run_id})" for e in orphans)
        raise OrphanedFaults(f"faults of an earlier run were never reverted: {listed}. "
                             "Run `chaosrunner recover` first.")
    check_environment(p, options.confirm)
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
    verdicts = judge(p, tl)
    status = status_of(verdicts, outcome.aborted, outcome.revert_failures)
    result = RunResult(run_id, p.name, status, run_dir, verdicts, abort_reason=outcome.aborted)
    result.data = run_document(p, tl, result, outcome)
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
    from chaosrunner.load import LoadRunner
    from chaosrunner.load.slo import window_stats

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


def run_document(p: Plan, tl: Timeline, result: RunResult, outcome: Any) -> dict[str, Any]:
    exp = p.experiment
    model = exp.model
    inv = exp.inventory.model.model_dump(mode="json", exclude_none=True) if exp.inventory else {}
    ended = tl.wall(tl.now())
    return {
        "schema": "chaosrunner/run/v1",
        "run_id": result.run_id,
        "experiment": {
            "name": model.name, "description": model.description, "hypothesis": model.hypothesis,
            "file": str(exp.file), "kind": "Experiment",
            "objectives": model.objectives.model_dump(mode="json"),
            "raw": exp.raw,
        },
        "targets": inv.get("targets", {}),
        "environment": p.environment,
        "status": result.status,
        "exit_code": result.exit_code,
        "started": iso(tl.started_wall), "ended": iso(ended), "duration_s": round(ended - tl.started_wall, 3),
        "sampling": {"interval": model.sampling.interval, "stable_for": model.sampling.stable_for},
        "probes": p.probe_names,
        "abort_reason": outcome.aborted,
        "errors": outcome.errors,
        "revert_failures": outcome.revert_failures,
        "plan": plan_document(p),
        "timeline": tl.to_dict(),
        "verdicts": [v.to_dict() for v in result.verdicts],
        "measurements": measurements(p, tl),
        "notes": [],
        "gameday": None,
        "load": {"csv": sorted(f.name for f in result.run_dir.glob("*.csv")),
                 "log": "locust.log"} if p.experiment.model.load is not None else None,
        "versions": versions(),
    }


def measurements(p: Plan, tl: Timeline) -> dict[str, Any]:
    """What was measured, per fault window (the report prints these with their definitions)."""
    model = p.experiment.model
    sampling = model.sampling
    windows = [w.to_dict() for w in recovery_from_timeline(tl, p.probe_names, sampling.interval,
                                                           sampling.stable_for)] if p.probe_names else []
    probe = role_probe(p, model.objectives.failover.probe if model.objectives.failover else None)
    if probe is not None:
        for w, f in zip(windows, _failovers(p, tl, probe), strict=False):
            w["failover_result"] = f.to_dict()
            w["failover"] = w["failover_result"].get("failover_time")     # seconds (null: none happened)
    result: dict[str, Any] = {"windows": windows, "integrity": None, "slo": None}
    if model.load is not None:
        from chaosrunner.load.slo import slo_windows

        result["slo"] = {name: w.to_dict() for name, w in slo_windows(tl).items()}
    if model.writer is not None:
        result["integrity"] = integrity(tl.writes, 1.0 / model.writer.rate).to_dict()
    return result


def plan_document(p: Plan) -> dict[str, Any]:
    def step(s: Any) -> dict[str, Any]:
        return {"index": s.index, "kind": s.kind, "label": s.label, "at": s.at, "duration": s.duration,
                "faults": [{"fault_id": f.fault_id, "target": f.target_name, "driver": f.driver,
                            "inject": d[0], "revert": d[1]} for f, d in zip(s.faults, s.describe, strict=True)]}

    return {"experiment": p.name, "environment": p.environment, "blast_radius": p.blast_radius,
            "drivers": p.drivers, "expected_duration": p.expected_duration, "probes": p.probe_names,
            "method": [step(s) for s in p.steps], "rollback": [step(s) for s in p.rollbacks],
            "outside_loopback": p.outside_loopback}


def run(path: str | Path, targets: str | Path | None = None, variables: dict[str, str] | None = None,
        only: str | None = None, options: RunOptions | None = None) -> list[RunResult]:
    """Plan every experiment of the file first (nothing is touched if any is invalid), then run each."""
    plans = plan(path, targets, variables, only)
    return [run_plan(p, options) for p in plans]


def _handle_from_intent(e: ledger_mod.Entry) -> Any:
    """Rebuild a handle from what the ledger wrote before the inject (the run died mid-inject)."""
    from pydantic import TypeAdapter

    from chaosrunner.drivers import PlannedFault
    from chaosrunner.model.experiment import FaultSpec
    from chaosrunner.model.targets import Target

    if not e.plan or e.driver not in registry():
        return None
    try:
        spec = TypeAdapter(FaultSpec).validate_python(e.plan["spec"])
        target = Target.model_validate(e.plan["target_model"]) if e.plan.get("target_model") else None
    except Exception:  # noqa: BLE001 - an entry from another version: leave it to a human
        return None
    return registry()[e.driver]().handle_from_intent(PlannedFault(e.fault_id, spec, e.target, target, e.driver))


@dataclass
class Recovered:
    entry: ledger_mod.Entry
    ok: bool
    error: str | None = None


def recover(include_live: bool = False) -> list[Recovered]:
    """Revert every fault left in the ledger by a run that is no longer alive."""
    out = []
    entries = ledger_mod.read_entries() if include_live else ledger_mod.orphans()
    for e in entries:
        handle = e.handle or _handle_from_intent(e)
        if handle is None:
            out.append(Recovered(e, False, "the run died while injecting and the driver cannot tell what it did: "
                                           f"check {e.fault_type} on {e.target} by hand, then delete {e.path}"))
            continue
        try:
            registry()[handle.driver]().revert(handle)
        except Exception as exc:  # noqa: BLE001 - report every failure, try every entry
            out.append(Recovered(e, False, f"{type(exc).__name__}: {exc}"))
            continue
        ledger_mod.remove(e.path)
        out.append(Recovered(e, True))
    return out
