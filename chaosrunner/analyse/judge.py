"""The verdicts of one experiment run, and what it measured, from its timeline alone.

``judge`` assembles every verdict an experiment's objectives call for (steady state, RTO,
failover/failback, split brain, SLO windows, integrity/RPO, rollbacks); ``measurements`` gives
the figures per fault window that the report prints (each window's faults and offsets, detection,
RTO and failover — timed from the objective's ``from:`` fault when it names one — the users'
recovery from the load, the writer's view) and, per figure, the worst window (``worst``), which
the run is judged on: every window gets its own verdict, so the run fails when its worst does;
``run_status`` turns verdicts into the run's status. Pure functions: no I/O, no clock. Recovery and
failover are computed once per run (``Analysis``) and shared by the verdicts and the measurements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chaosrunner.analyse.failover import (
    FailoverResult,
    failback_verdicts,
    failover_results,
    failover_verdicts,
    split_brain_verdict,
)
from chaosrunner.analyse.integrity import IntegrityResult, integrity, integrity_verdicts, writes_in_window
from chaosrunner.analyse.recovery import RecoveryResult, recovery_from_timeline, rto_verdicts, window_faults, worst
from chaosrunner.analyse.users import users_recovery
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.steady import held_during_faults, rollback_verdict, steady_state_verdicts
from chaosrunner.analyse.verdict import Status, Verdict, unmeasured_objectives
from chaosrunner.model.experiment import Experiment
from chaosrunner.timeline import FaultWindow, Timeline, fault_windows


@dataclass
class Analysis:
    """One experiment's run, analysed: built from the model, the probes' names and the timeline."""

    model: Experiment
    probe_names: list[str]
    timeline: Timeline

    def role_probe(self, wanted: str | None = None) -> str | None:
        """The role probe an objective refers to: the named one, else the only one."""
        roles = [n for n, spec in zip(self.probe_names, self.model.probes(), strict=True) if spec.type == "role"]
        if wanted is not None:
            return wanted if wanted in roles else None
        return roles[0] if len(roles) == 1 else None

    @cached_property
    def recovery(self) -> list[RecoveryResult]:
        if not self.probe_names:
            return []
        s = self.model.sampling
        return recovery_from_timeline(self.timeline, self.probe_names, s.interval, s.stable_for,
                                      origin=self.model.objectives.rto_from)

    def failovers(self, probe: str, origin: str | None = None) -> list[FailoverResult]:
        steady = [n for n in self.probe_names if n != probe]
        tl = self.timeline
        return failover_results(tl.samples, tl.events, probe, steady, self.model.sampling.interval, origin=origin)

    @cached_property
    def windows(self) -> list[FaultWindow]:
        return fault_windows(self.timeline.events)

    def integrity(self) -> IntegrityResult | None:
        if self.model.writer is None:
            return None
        return integrity(self.timeline.writes, 1.0 / self.model.writer.rate, self.windows)

    def verdicts(self) -> list[Verdict]:
        model, tl = self.model, self.timeline
        obj = model.objectives
        verdicts = steady_state_verdicts(tl, self.probe_names)
        if self.probe_names:
            if obj.rto_within is not None:
                verdicts += rto_verdicts(self.recovery, obj.rto_within)
            elif not (obj.failover or obj.rpo is not None):
                verdicts.append(held_during_faults(tl, self.probe_names))
        for which, judge_fn in (("failover", failover_verdicts), ("failback", failback_verdicts)):
            objective = getattr(obj, which)
            if objective is None:
                continue
            probe = self.role_probe(objective.probe)
            if probe is None:
                verdicts.append(Verdict(which, Status.UNKNOWN, f"≤ {objective.within:g}s", "no role probe",
                                        "add a steady-state probe of type role (or name it in the objective)",
                                        kind="objective"))
                continue
            verdicts += judge_fn(self.failovers(probe, getattr(objective, "from_", None)), objective.within)
        roles = {self.role_probe(getattr(getattr(obj, w), "probe", None)) for w in ("failover", "failback")
                 if getattr(obj, w) is not None}
        for probe in sorted(r for r in roles if r is not None):
            verdicts.append(split_brain_verdict(tl.samples, probe))
        if model.load is not None and obj.slo:
            from chaosrunner.analyse.slo import slo_verdicts

            verdicts += slo_verdicts(tl, obj.slo)
        integ = self.integrity()
        if integ is not None:
            verdicts += integrity_verdicts(integ, obj.rpo)
        rollbacks = rollback_verdict(tl)
        if rollbacks is not None:
            verdicts.append(rollbacks)
        return verdicts

    def measurements(self) -> dict[str, Any]:
        """What was measured, per fault window (the report prints these with their definitions)."""
        model, tl = self.model, self.timeline
        windows = [w.to_dict() for w in self.recovery]
        failover = model.objectives.failover
        probe = self.role_probe(failover.probe if failover else None)
        if probe is not None:
            for w, f in zip(windows, self.failovers(probe, failover.from_ if failover else None), strict=False):
                w["failover_result"] = f.to_dict()
                w["failover"] = w["failover_result"].get("failover_time")     # seconds (null: none happened)
        fault_list = self.windows
        by_index = {w.index: w for w in fault_list}
        users = {u.window: u for u in users_recovery(tl.load_stats, fault_list)} if model.load is not None else {}
        for i, w in enumerate(windows):
            fw = by_index.get(w["window"])
            if fw is None:
                continue
            w["faults"] = window_faults(tl.events, fw)
            if model.writer is not None:
                nxt = fault_list[i + 1].start if i + 1 < len(fault_list) else math.inf
                w["writes"] = writes_in_window(tl.writes, fw, nxt, 1.0 / model.writer.rate).to_dict()
            if fw.index in users:
                w["users"] = users[fw.index].to_dict()
        result: dict[str, Any] = {"windows": windows, "integrity": None, "slo": None, "worst": worst_of(windows)}
        if model.load is not None:
            from chaosrunner.analyse.slo import slo_windows

            result["slo"] = {name: w.to_dict() for name, w in slo_windows(tl).items()}
        integ = self.integrity()
        if integ is not None:
            result["integrity"] = integ.to_dict()
        return result


def _failover_value(w: dict[str, Any]) -> float | None:
    """A window's failover time for ``worst_of``: unbounded when one was needed and never completed."""
    f = w.get("failover_result") or {}
    if w.get("failover") is not None:
        return float(w["failover"])
    needed = f.get("measured") and (f.get("deviated") or f.get("failed_over"))
    timed_here = f.get("origin") is None or f.get("origin_at") is not None
    return math.inf if needed and timed_here else None


def worst_of(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window each figure is worst in (the one the run is judged on): ``{figure: {window, value}}``.

    A window that never recovered (or never failed over) is the worst of all: its value is null
    with ``unbounded`` true.
    """
    out: dict[str, Any] = {}
    picks = {
        "detection_time": lambda w: w.get("detection_time"),
        "recovery_time": lambda w: (math.inf if w.get("recovered") is False and w.get("measured", True)
                                    else w.get("recovery_time")),
        "failover": _failover_value,
        "users_recovery": lambda w: (math.inf if (w.get("users") or {}).get("overall", {}).get("recovered") is False
                                     else (w.get("users") or {}).get("overall", {}).get("recovery_time")),
        "writes_longest_gap": lambda w: (w.get("writes") or {}).get("longest_gap"),
    }
    for figure, pick in picks.items():
        found = worst([(int(w["window"]), pick(w)) for w in windows])
        if found is not None:
            window, value = found
            out[figure] = {"window": window, "value": None if math.isinf(value) else value,
                           "unbounded": math.isinf(value)}
    return out


def judge(model: Experiment, probe_names: list[str], timeline: Timeline) -> list[Verdict]:
    """All verdicts of a run, from its timeline alone."""
    return Analysis(model, probe_names, timeline).verdicts()


def run_status(verdicts: list[Verdict], aborted: str | None, revert_failures: list[str]) -> RunStatus:
    """The run's status: revert_failed, aborted, failed, inconclusive (no verdict failed, but a
    declared objective could not be measured: exit 1) or held (everything declared was measured
    and passed). Unmeasured hypotheses (e.g. "no fault was injected") do not make a run inconclusive."""
    if revert_failures:
        return RunStatus.REVERT_FAILED
    if aborted:
        return RunStatus.ABORTED
    if any(v.status is Status.FAILED for v in verdicts):
        return RunStatus.FAILED
    if unmeasured_objectives(verdicts):
        return RunStatus.INCONCLUSIVE
    return RunStatus.HELD
