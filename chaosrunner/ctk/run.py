"""Running a Chaos Toolkit experiment in compatibility mode: chaoslib's run, chaoslib's verdict.

The experiment runs through chaoslib's own ``Runner`` exactly as ``chaos run`` runs it: settings and
runtime strategies resolved the same way (settings file, then the experiment's ``runtime``, then the
options), configuration and secrets loaded by chaoslib and passed to every activity, providers with
their own timeouts, tolerances, controls (experiment, global from the settings, activity level) at
chaoslib's hook points, ``ref`` activities, background activities, pauses, rollback strategies, and
activity failures recorded, not aborting. The verdict is the journal's: completed and not deviated →
held (exit 0); deviated or failed → failed (1); aborted or interrupted → aborted (3).

Beside it, chaosrunner samples the hypothesis probes on fixed deadlines from before the hypothesis
until after the rollbacks (``chaosrunner.execute.sampling``, in a thread of its own) and reports what
it saw as findings (``ctk.findings``): shown with the verdict, changing it only when ``strict``.

Rollback actions of the experiment are rollback steps: nothing of a CTK run enters the fault ledger
(no fault of chaosrunner's is injected), so a run killed with ``kill -9`` leaves nothing that keeps
the next run from starting. Each run writes ``journal.json`` (Chaos Toolkit's journal, what ``chaos
report`` reads), ``chaostoolkit.log`` and ``run.json`` with the report beside them.
"""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.ctk.findings import KIND, findings
from chaosrunner.ctk.load import CtkDocument, activities, load_ctk
from chaosrunner.errors import ConfigError
from chaosrunner.execute.sampling import Sampler
from chaosrunner.probes.base import Outcome
from chaosrunner.results import RunResult, new_run_id, write_run_json
from chaosrunner.timeline import EventKind, Timeline
from chaosrunner.units import format_duration

HYPOTHESIS_STRATEGIES = ("default", "before-method-only", "after-method-only", "during-method-only", "continuously")
ROLLBACK_STRATEGIES = ("default", "always", "never", "deviated")
SECRET = "***"


@dataclass
class CtkOptions:
    """What ``chaos run`` takes (strategies, frequency, fail fast, settings, ``--var``), and chaosrunner's own."""

    report_dir: Path = Path("reports")
    hypothesis_strategy: str | None = None     # None: the settings', else the experiment's runtime, else default
    rollback_strategy: str | None = None
    hypothesis_frequency: float = 1.0
    fail_fast: bool = False
    strict: bool = False                       # a deviation the sampling saw fails the run
    settings_path: Path | None = None          # None: chaoslib's (~/.chaostoolkit/settings.yaml), as `chaos run`
    variables: dict[str, Any] = field(default_factory=dict)   # configuration values, as `chaos run --var`
    sample_interval: float = 0.5
    stable_for: float = 1.0                    # findings: how long the hypothesis must hold to count as recovered
    observe_after: float | None = None         # sampling after chaoslib's run ends (None: stable_for + interval)
    render_report: bool = True
    echo_log: bool = False                     # chaoslib's log lines on stderr too, as `chaos run` shows them
    on_record: Callable[[Any], None] | None = None


def verdict_status(journal: dict[str, Any]) -> RunStatus:
    """Chaos Toolkit's verdict as a status: completed and not deviated → held; deviated or failed →
    failed; aborted or interrupted → aborted."""
    status = journal.get("status")
    if status in ("aborted", "interrupted"):
        return RunStatus.ABORTED
    if status == "completed" and not journal.get("deviated", False):
        return RunStatus.HELD
    return RunStatus.FAILED


def interrupted_activity(journal: dict[str, Any]) -> str | None:
    """The termination signal chaoslib turned into a failed activity, if one did: a SIGTERM while a Python
    activity runs is recorded as that activity failing and the run ``completed`` (``chaos run`` exits 0)."""
    for run in (journal.get("run") or []) + (journal.get("rollbacks") or []):
        text = "".join(run.get("exception") or [])
        if "InterruptExecution" in text:
            return f"{run['activity'].get('name')}: {text.strip().splitlines()[-1]}"
    return None


def journal_verdicts(journal: dict[str, Any]) -> list[Verdict]:
    """Chaos Toolkit's verdict, the hypothesis checks and the rollbacks, as the journal has them."""
    status, deviated = journal.get("status"), bool(journal.get("deviated", False))
    ok = status == "completed" and not deviated
    out = [Verdict("chaos toolkit verdict", Status.PASSED if ok else Status.FAILED, "completed, not deviated",
                   f"{status}" + (", deviated" if deviated else ""), kind="hypothesis",
                   data={"status": status, "deviated": deviated})]
    states = journal.get("steady_states") or {}
    for when in ("before", "after"):
        state = states.get(when)
        if state is None:
            continue
        met = bool(state.get("steady_state_met"))
        failed = [p["activity"].get("name") for p in state.get("probes", []) if not p.get("tolerance_met", True)]
        out.append(Verdict(f"steady state {when}", Status.PASSED if met else Status.FAILED, "every probe within "
                           "its tolerance", "met" if met else "not met", detail=", ".join(map(str, failed)),
                           kind="hypothesis"))
    for state in states.get("during") or []:
        if not state.get("steady_state_met", True):
            out.append(Verdict("steady state during", Status.FAILED, "met", "not met", kind="hypothesis"))
            break
    failed_runs = [r for r in journal.get("run", []) if r.get("status") == "failed"]
    if failed_runs:
        out.append(Verdict("activities", Status.FAILED, "every activity succeeded", f"{len(failed_runs)} failed",
                           detail="; ".join(f"{r['activity'].get('name')}: {r.get('exception', [''])[-1].strip()}"
                                            if r.get("exception") else str(r["activity"].get("name"))
                                            for r in failed_runs)[:500],
                           kind="hypothesis"))
    rollbacks = journal.get("rollbacks") or []
    if rollbacks:
        bad = [r for r in rollbacks if r.get("status") != "succeeded"]
        out.append(Verdict("rollbacks", Status.FAILED if bad else Status.PASSED, "every rollback succeeded",
                           f"{len(rollbacks) - len(bad)} of {len(rollbacks)} succeeded", kind="rollback",
                           detail=", ".join(str(r["activity"].get("name")) for r in bad)))
    return out


# -- the hypothesis probes, sampled by chaosrunner --------------------------------------------------

class HypothesisProbe:
    """A hypothesis probe of the experiment, run by chaoslib with the run's configuration and secrets,
    its value judged by chaoslib's ``within_tolerance``."""

    def __init__(self, name: str, activity: dict[str, Any], configuration: dict[str, Any], secrets: dict[str, Any]):
        self.name, self.activity = name, activity
        self.configuration, self.secrets = configuration, secrets
        timeout = activity.get("provider", {}).get("timeout")
        if isinstance(timeout, (list, tuple)):
            timeout = sum(t for t in timeout if isinstance(t, (int, float)))
        self.timeout = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else 10.0

    def _run(self) -> Outcome:
        from chaoslib.activity import run_activity
        from chaoslib.hypothesis import within_tolerance

        value = run_activity(self.activity, self.configuration, self.secrets)
        ok = bool(within_tolerance(self.activity.get("tolerance"), value, self.configuration, self.secrets))
        shown = value.get("status") if isinstance(value, dict) and "status" in value else value
        shown = shown if isinstance(shown, (int, float, bool)) or shown is None else str(shown)[:200]
        return Outcome(ok, shown, None if ok else f"value {shown!r} is not within tolerance "
                                                  f"{self.activity.get('tolerance')!r}")

    async def check(self) -> Outcome:
        return await asyncio.to_thread(self._run)

    async def close(self) -> None:
        return None


def hypothesis_activities(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The hypothesis probes (``ref`` resolved), each with a name unique in the run."""
    by_name = {a["name"]: a for _, a, _ in activities(data) if isinstance(a, dict) and "name" in a}
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for _, act, section in activities(data):
        if section != "hypothesis" or not isinstance(act, dict):
            continue
        resolved = {**by_name.get(act.get("ref", ""), act), **{k: v for k, v in act.items() if k != "ref"}}
        name = str(resolved.get("name") or "probe")
        unique, i = name, 2
        while unique in seen:
            unique, i = f"{name} ({i})", i + 1
        seen.add(unique)
        out.append((unique, resolved))
    return out


class _SamplingThread:
    """The sampler on an event loop of its own thread: chaoslib's run keeps the main thread (signals)."""

    def __init__(self, probes: list[HypothesisProbe], timeline: Timeline, interval: float):
        self.probes, self.timeline, self.interval = probes, timeline, interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="ctk sampling", daemon=True)

    def start(self) -> None:
        if self.probes:
            self._thread.start()
            self._ready.wait(5)

    def _main(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        sampler = Sampler(self.probes, self.timeline, self.interval)   # type: ignore[arg-type]
        sampler.start()
        self._ready.set()
        await self._stop.wait()
        await sampler.stop(drain=True)     # the samples in flight are part of the record

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(max(p.timeout for p in self.probes) + 2.0)


# -- chaoslib's run, recorded into the timeline -----------------------------------------------------

def _handler_base() -> type:
    from chaoslib.run import RunEventHandler

    return RunEventHandler


class _Recorder(_handler_base()):  # type: ignore[misc]
    """Chaoslib's run events as timeline events; starts the sampling once chaoslib has loaded the
    configuration and secrets (the probes need them), stops it when the run finishes."""

    def __init__(self, timeline: Timeline, doc: CtkDocument, options: CtkOptions):
        self.tl, self.doc, self.options = timeline, doc, options
        self.sampling: _SamplingThread | None = None
        self.probe_names: list[str] = []
        self.phase = "experiment"

    def running(self, experiment: Any, journal: Any, configuration: Any, secrets: Any, schedule: Any,
                settings: Any) -> None:
        probes = [HypothesisProbe(name, act, configuration or {}, secrets or {})
                  for name, act in hypothesis_activities(self.doc.data)]
        self.probe_names = [p.name for p in probes]
        self.sampling = _SamplingThread(probes, self.tl, self.options.sample_interval)
        self.sampling.start()

    def _phase(self, kind: EventKind, phase: str, **data: Any) -> None:
        self.tl.event(kind, phase=phase, **data)

    def start_hypothesis_before(self, experiment: Any) -> None:
        self._phase(EventKind.PHASE_STARTED, "steady-state-before")

    def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        self._steady("before", state)

    def start_hypothesis_after(self, experiment: Any) -> None:
        self._phase(EventKind.PHASE_STARTED, "steady-state-after")

    def hypothesis_after_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        self._steady("after", state)

    def _steady(self, when: str, state: Any) -> None:
        ok = bool(state and state.get("steady_state_met"))
        probes = {str(p["activity"].get("name")): bool(p.get("tolerance_met")) for p in (state or {}).get("probes", [])}
        self.tl.event(EventKind.STEADY_STATE, phase=f"steady-state-{when}", ok=ok, probes=probes)
        self._phase(EventKind.PHASE_ENDED, f"steady-state-{when}", ok=ok)

    def start_method(self, experiment: Any) -> None:
        self.phase = "method"
        self._phase(EventKind.PHASE_STARTED, "method")

    def method_completed(self, experiment: Any, state: Any) -> None:
        self._phase(EventKind.PHASE_ENDED, "method", ok=state is not None)
        self.phase = "experiment"

    def start_rollbacks(self, experiment: Any) -> None:
        self.phase = "rollback"
        self._phase(EventKind.PHASE_STARTED, "rollback")

    def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
        self._phase(EventKind.PHASE_ENDED, "rollback")
        self.phase = "experiment"

    def activity_completed(self, activity: Any, run: Any) -> None:
        ok = run is not None and run.get("status") == "succeeded"
        data: dict[str, Any] = {"name": str(activity.get("name")), "activity_type": str(activity.get("type")),
                                "ok": ok}
        if not ok and run is not None:
            data["error"] = str((run.get("exception") or ["failed"])[-1]).strip()[:300]
        self.tl.event(EventKind.ROLLBACK if self.phase == "rollback" else EventKind.ACTION, **data)

    def interrupted(self, experiment: Any, journal: Any) -> None:
        self.tl.event(EventKind.ABORT, reason="interrupted by an activity or a control")

    def signal_exit(self) -> None:
        self.tl.event(EventKind.SIGNAL, signal="exit")

    def stop(self) -> None:
        if self.sampling is not None:
            self.sampling.stop()
            self.sampling = None


@contextmanager
def _hangup_as_sigterm() -> Iterator[None]:
    """SIGHUP (a closed terminal) does what SIGTERM does to chaoslib's run, instead of killing the process
    with rollbacks not run. Only in the main thread (where signal handlers live)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def hangup(signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signal.SIGTERM, frame)

    saved = signal.signal(signal.SIGHUP, hangup)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, saved)


def _settings(options: CtkOptions) -> dict[str, Any]:
    """Settings and runtime strategies, resolved in the order ``chaos run`` resolves them."""
    from chaoslib.settings import CHAOSTOOLKIT_CONFIG_PATH, load_settings

    path = options.settings_path or Path(CHAOSTOOLKIT_CONFIG_PATH)
    settings: dict[str, Any] = (load_settings(str(path)) or {}) if path.exists() else {}
    runtime = settings.setdefault("runtime", {})
    runtime.setdefault("rollbacks", {}).setdefault("strategy", "default")
    runtime.setdefault("hypothesis", {}).setdefault("strategy", "default")
    return settings


def _strategies(settings: dict[str, Any], experiment: dict[str, Any], options: CtkOptions) -> str:
    runtime = settings["runtime"]
    mine = experiment.get("runtime")
    if mine:
        runtime["rollbacks"]["strategy"] = (mine.get("rollbacks") or {}).get("strategy", "default")
        runtime["hypothesis"]["strategy"] = (mine.get("hypothesis") or {}).get("strategy", "default")
    if options.hypothesis_strategy is not None:
        runtime["hypothesis"]["strategy"] = options.hypothesis_strategy
    if options.rollback_strategy is not None:
        runtime["rollbacks"]["strategy"] = options.rollback_strategy
    hyp, rb = runtime["hypothesis"]["strategy"], runtime["rollbacks"]["strategy"]
    hyp = "continuously" if hyp == "continously" else hyp
    if hyp not in HYPOTHESIS_STRATEGIES:
        raise ConfigError(f"unknown hypothesis strategy {hyp!r}", hint="one of " + ", ".join(HYPOTHESIS_STRATEGIES))
    if rb not in ROLLBACK_STRATEGIES:
        raise ConfigError(f"unknown rollback strategy {rb!r}", hint="one of " + ", ".join(ROLLBACK_STRATEGIES))
    return str(hyp)


def redact_secrets(experiment: dict[str, Any]) -> dict[str, Any]:
    """The experiment with every inline secret value replaced (env and vault references stay)."""
    secrets = experiment.get("secrets")
    if not isinstance(secrets, dict):
        return experiment
    out: dict[str, Any] = {}
    for scope, values in secrets.items():
        out[scope] = ({k: (v if isinstance(v, dict) else SECRET) for k, v in values.items()}
                      if isinstance(values, dict) else values)
    return {**experiment, "secrets": out}


def write_journal(run_dir: Path, journal: dict[str, Any]) -> Path:
    """``journal.json`` as ``chaos run`` writes it (chaostoolkit's encoder), inline secrets redacted."""
    from chaostoolkit import encoder

    doc = dict(journal)
    if isinstance(doc.get("experiment"), dict):
        doc["experiment"] = redact_secrets(doc["experiment"])
    path = run_dir / "journal.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=encoder))
    return path


def run_ctk(path: str | Path, options: CtkOptions | None = None) -> RunResult:
    """Run a Chaos Toolkit experiment file in compatibility mode; its result and run folder."""
    from chaoslib.control import load_global_controls
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import run_experiment
    from chaoslib.types import Schedule, Strategy

    from chaosrunner.execute.recovery import refuse_orphans

    options = options or CtkOptions()
    doc = load_ctk(path)
    ext = doc.extension()                # chaosrunner's settings in the file's `extensions`
    options = replace(options, strict=options.strict or ext.strict,
                      sample_interval=ext.interval if ext.interval is not None else options.sample_interval,
                      stable_for=ext.stable_for if ext.stable_for is not None else options.stable_for)
    refuse_orphans()                 # real faults of a dead run still need `recover` first
    experiment = doc.experiment()
    settings = _settings(options)
    strategy = Strategy.from_string(_strategies(settings, experiment, options))
    schedule = Schedule(continuous_hypothesis_frequency=options.hypothesis_frequency, fail_fast=options.fail_fast)
    run_id = new_run_id(doc.title)
    run_dir = Path(options.report_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    if options.on_record is not None:
        tl.subscribe(options.on_record)
    recorder = _Recorder(tl, doc, options)
    log = _ctk_log(run_dir, options.echo_log)
    tl.event(EventKind.RUN_STARTED, run_id=run_id, experiment=doc.title)
    try:
        load_global_controls(settings)
        # chaoslib's own entry point, as `chaos run` calls it (it caches the activities `ref` looks up)
        with _hangup_as_sigterm():
            journal = run_experiment(experiment, settings=settings,
                                     experiment_vars=(options.variables or None, None),
                                     strategy=strategy, schedule=schedule, event_handlers=[recorder])
        write_journal(run_dir, journal)         # first: the run is over, whatever happens next
        if journal.get("status") == "completed" and interrupted_activity(journal) is None:
            # go on sampling a moment: recovery after the last rollback is measurable (the verdict is made)
            after = options.observe_after if options.observe_after is not None \
                else options.stable_for + options.sample_interval
            time.sleep(after if recorder.sampling is not None else 0.0)
    except ChaosException as exc:           # configuration or secrets chaoslib could not load: nothing ran
        shutil.rmtree(run_dir, ignore_errors=True)
        raise ConfigError(f"{doc.file}: {exc}", None, "set the variables the configuration and secrets read, "
                          "or give them defaults") from None
    finally:
        recorder.stop()
        log.close()
    tl.event(EventKind.RUN_ENDED, run_id=run_id)
    return _result(doc, journal, tl, recorder.probe_names, run_id, run_dir, options)


def rto_verdict(found: list[Verdict], rto: float, interval: float) -> Verdict:
    """The ``rto`` objective of the chaosrunner extension, judged on the findings' recovery."""
    recovery = next((v for v in found if v.name == "recovery"), None)
    sampled = next((v for v in found if v.name == "sampled hypothesis"), None)
    expected = f"≤ {format_duration(rto)}"
    if sampled is None or sampled.status is Status.SKIPPED:
        return Verdict("rto", Status.UNKNOWN, expected, "not measured", detail="no hypothesis was sampled",
                       kind="objective")
    if recovery is None:                   # no failed sample: nothing to recover from
        return Verdict("rto", Status.PASSED, expected, "0s (no deviation)", value=0.0, kind="objective")
    if recovery.value is None:
        return Verdict("rto", Status.FAILED, expected, recovery.measured, kind="objective")
    ok = recovery.value <= rto
    return Verdict("rto", Status.PASSED if ok else Status.FAILED, expected, recovery.measured, value=recovery.value,
                   precision=interval, kind="objective")


def _result(doc: CtkDocument, journal: dict[str, Any], tl: Timeline, probes: list[str], run_id: str, run_dir: Path,
            options: CtkOptions) -> RunResult:
    from chaosrunner.results.document import versions
    from chaosrunner.results.history import record_run
    from chaosrunner.results.record import ExperimentInfo, RunRecord, SamplingInfo, TimelineRecord

    status = verdict_status(journal)
    signalled = interrupted_activity(journal)
    if signalled is not None:
        status = RunStatus.ABORTED          # a signal stopped the run; chaoslib only saw a failed activity
    found = findings(tl.samples, tl.events, probes, options.sample_interval, options.stable_for)
    rto = doc.extension().rto
    if rto is not None:
        found.append(rto_verdict(found, rto, options.sample_interval))
    if status is RunStatus.HELD and (options.strict and any(v.status is Status.FAILED for v in found)
                                     or any(v.kind == "objective" and v.status is not Status.PASSED for v in found)):
        status = RunStatus.FAILED
    verdicts = journal_verdicts(journal) + found
    reason = None
    if status is RunStatus.ABORTED:
        reason = f"interrupted: {signalled}" if signalled else f"chaos toolkit run {journal.get('status')}"
    result = RunResult(run_id, doc.title, status, run_dir, verdicts, abort_reason=reason)
    ended = tl.wall(tl.now())
    hypothesis = doc.data.get("steady-state-hypothesis")
    result.record = RunRecord(
        run_id=run_id,
        experiment=ExperimentInfo(name=doc.title, description=str(doc.data.get("description") or ""),
                                  hypothesis=str(hypothesis.get("title", "")) if isinstance(hypothesis, dict) else "",
                                  file=str(doc.file), raw=redact_secrets(doc.data)),
        status=status, exit_code=status.exit_code,
        started=datetime.fromtimestamp(tl.started_wall, UTC), ended=datetime.fromtimestamp(ended, UTC),
        duration_s=round(ended - tl.started_wall, 3),
        sampling=SamplingInfo(interval=options.sample_interval, stable_for=options.stable_for),
        probes=probes, abort_reason=reason,
        errors=[f"{r['activity'].get('name')}: failed" for r in journal.get("run", []) if r.get("status") == "failed"],
        timeline=TimelineRecord.of(tl), verdicts=verdicts, versions=versions())
    write_run_json(run_dir, result.record)
    record_run(run_dir, result.record)
    if options.render_report:           # as api.render_outputs does (chaosrunner.api dispatches here: no import back)
        try:
            from chaosrunner.report import render_run
        except ImportError:
            pass
        else:
            render_run(run_dir)
    return result


class _CtkLog:
    """Chaoslib's log lines go to ``chaostoolkit.log`` in the run folder (as ``chaos run`` keeps its
    own log), not to the terminal."""

    def __init__(self, path: Path, echo: bool):
        self.logger = logging.getLogger("chaostoolkit")
        self.handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
        if echo:
            self.handlers.append(logging.StreamHandler(sys.stderr))
        for h in self.handlers:
            h.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] %(message)s"))
            self.logger.addHandler(h)
        self.saved = (self.logger.level, self.logger.propagate)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def close(self) -> None:
        for h in self.handlers:
            self.logger.removeHandler(h)
            h.close()
        self.logger.setLevel(self.saved[0])
        self.logger.propagate = self.saved[1]


def _ctk_log(run_dir: Path, echo: bool) -> _CtkLog:
    return _CtkLog(run_dir / "chaostoolkit.log", echo)


__all__ = ["KIND", "CtkOptions", "HypothesisProbe", "journal_verdicts", "run_ctk", "verdict_status", "write_journal"]
