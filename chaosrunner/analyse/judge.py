"""The verdicts of one experiment run, and what it measured, from its timeline alone.

``judge`` assembles every verdict an experiment's objectives call for (steady state, RTO,
failover/failback, split brain, SLO windows, integrity/RPO, rollbacks); ``measurements`` gives
the figures per fault window that the report prints; ``run_status`` turns verdicts into the
run's status. Pure functions: no I/O, no clock. Recovery and failover are computed once per
run (``Analysis``) and shared by the verdicts and the measurements.
"""
from __future__ import annotations

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
from chaosrunner.analyse.integrity import integrity, integrity_verdicts
from chaosrunner.analyse.recovery import RecoveryResult, recovery_from_timeline, rto_verdicts
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.steady import held_during_faults, rollback_verdict, steady_state_verdicts
from chaosrunner.analyse.verdict import Status, Verdict, unmeasured_objectives
from chaosrunner.model.experiment import Experiment
from chaosrunner.timeline import Timeline


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
        return recovery_from_timeline(self.timeline, self.probe_names, s.interval, s.stable_for)

    def failovers(self, probe: str) -> list[FailoverResult]:
        steady = [n for n in self.probe_names if n != probe]
        tl = self.timeline
        return failover_results(tl.samples, tl.events, probe, steady, self.model.sampling.interval)

    def verdicts(self) -> list[Verdict]:
        model, tl = self.model, self.timeline
        obj = model.objectives
        verdicts = steady_state_verdicts(tl, self.probe_names)
        if self.probe_names:
            if obj.rto is not None:
                verdicts += rto_verdicts(self.recovery, obj.rto)
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
            verdicts += judge_fn(self.failovers(probe), objective.within)
        roles = {self.role_probe(getattr(getattr(obj, w), "probe", None)) for w in ("failover", "failback")
                 if getattr(obj, w) is not None}
        for probe in sorted(r for r in roles if r is not None):
            verdicts.append(split_brain_verdict(tl.samples, probe))
        if model.load is not None and obj.slo:
            from chaosrunner.analyse.slo import slo_verdicts

            verdicts += slo_verdicts(tl, obj.slo)
        if model.writer is not None:
            verdicts += integrity_verdicts(integrity(tl.writes, 1.0 / model.writer.rate), obj.rpo)
        rollbacks = rollback_verdict(tl)
        if rollbacks is not None:
            verdicts.append(rollbacks)
        return verdicts

    def measurements(self) -> dict[str, Any]:
        """What was measured, per fault window (the report prints these with their definitions)."""
        model = self.model
        windows = [w.to_dict() for w in self.recovery]
        probe = self.role_probe(model.objectives.failover.probe if model.objectives.failover else None)
        if probe is not None:
            for w, f in zip(windows, self.failovers(probe), strict=False):
                w["failover_result"] = f.to_dict()
                w["failover"] = w["failover_result"].get("failover_time")     # seconds (null: none happened)
        result: dict[str, Any] = {"windows": windows, "integrity": None, "slo": None}
        if model.load is not None:
            from chaosrunner.analyse.slo import slo_windows

            result["slo"] = {name: w.to_dict() for name, w in slo_windows(self.timeline).items()}
        if model.writer is not None:
            result["integrity"] = integrity(self.timeline.writes, 1.0 / model.writer.rate).to_dict()
        return result


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
