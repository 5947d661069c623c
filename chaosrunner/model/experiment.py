"""The experiment model (apiVersion chaosrunner/v1): what healthy means, what to break, what to expect.

A file holds one experiment, or several under ``experiments:`` (the seed's §10.1 file loads as
it is). Raw dicts exist only in ``chaosrunner.read.parse``; everything past it uses these models.
A method step's ``action`` is any installed driver's fault type (``chaosrunner.model.vocabulary``):
the models that hold it defer their schema until first used, and are rebuilt when drivers are installed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, WithJsonSchema, field_validator, model_validator

from chaosrunner import units
from chaosrunner.errors import suggest
from chaosrunner.model.base import (
    DAY,
    HOUR,
    Duration,
    FieldError,
    Fraction,
    Pause,
    Strict,
    Window,
    Within,
    check_http_url,
)
from chaosrunner.model.aws import AwsProbeSpec, CloudWatchAlarmStop
from chaosrunner.model.faults import Fault
from chaosrunner.model.k8s import K8sProbeSpec
from chaosrunner.model.traffic import LoadSpec
from chaosrunner.model.writer import WriterSpec
from chaosrunner.model.probes import (
    CommandProbeSpec,
    HttpProbeSpec,
    MetricProbeSpec,
    ProviderProbeSpec,
    RoleProbeSpec,
    TcpProbeSpec,
)
from chaosrunner.model.vocabulary import INSTALLED_FAULTS
from chaosrunner.model.risks import RiskIds, SeverityLevel, risk_ids_field

ProbeSpec = Annotated[
    HttpProbeSpec | TcpProbeSpec | CommandProbeSpec | ProviderProbeSpec | MetricProbeSpec | RoleProbeSpec
    | AwsProbeSpec | K8sProbeSpec,
    Field(discriminator="type"),
]
FaultSpec = Annotated[Fault, INSTALLED_FAULTS]
"""A method action: one of the installed fault models, picked by its ``type``."""


class SteadyStateEntry(Strict):
    probe: ProbeSpec


class MethodStep(Strict):
    """One step of the method: exactly one of ``action``, ``pause`` or ``probe``."""

    model_config = ConfigDict(defer_build=True)

    action: FaultSpec | None = None
    pause: Pause | None = Field(None, description="wait this long (between 0s and 24h)")
    probe: ProbeSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MethodStep:
        given = [k for k in ("action", "pause", "probe") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a method step is exactly one of action:, pause: or probe:"
                             + (f" (this one has {', '.join(given)})" if given else ""))
        return self


ORIGIN = ("the fault the time is measured from: an action's `name` or a fault id (f1, f2, ... as "
          "`chaosrunner plan` shows them); default: the first fault of each fault window")


class FailoverObjective(Strict):
    probe: str | None = Field(None, description="name of the role probe; the only one when omitted")
    within: Duration = Field(..., description="a different primary serves within this (between 0s and 7d)")
    from_: str | None = Field(None, alias="from", min_length=1, description=ORIGIN)


class RtoObjective(Strict):
    """``rto: {within: 30s, from: kill-primary}``: recovery timed from a named fault, not the window's first."""

    within: Duration = Field(..., description="steady state back within this (between 0s and 7d)")
    from_: str | None = Field(None, alias="from", min_length=1, description=ORIGIN)


class FailbackObjective(Strict):
    probe: str | None = None
    within: Duration = Field(..., description="the original primary serves again within this (between 0s and 7d)")


def _requests_per_second(value: object) -> float:
    """``rps_min``: a finite number, 0 or more."""
    try:
        number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
    except (ValueError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{units.quote(value)} is not a number of requests per second; write e.g. rps_min: 50")
    return number


_SLO_THRESHOLDS: dict[str, Callable[[object], float]] = {
    "p50": units.parse_duration, "p95": units.parse_duration, "p99": units.parse_duration,
    "error_rate": units.parse_fraction, "rps_min": _requests_per_second}


def _rto_form(value: Any) -> str:
    """``rto:`` is a duration, or a mapping ``{within, from}``: only that one form is tried (one error, not two)."""
    return "within-from" if isinstance(value, (dict, RtoObjective)) else "duration"


class Objectives(Strict):
    rto: Annotated[Annotated[RtoObjective, Tag("within-from")] | Annotated[Duration, Tag("duration")],
                   Discriminator(_rto_form)] | None = Field(
        None, description="recovery time objective: steady state back within this (between 0s and 7d), or "
                          "{within, from} to time it from a named fault")
    rpo: Duration | None = Field(None, description="recovery point objective: data loss window at most this "
                                                    "(between 0s and 7d)")
    failover: FailoverObjective | None = None
    failback: FailbackObjective | None = None
    slo: dict[str, Any] | None = Field(None, description="golden-signal thresholds: p50, p95, p99 (durations), "
                                                         "error_rate (between 0% and 100%), rps_min (a number ≥ 0)")

    @property
    def rto_within(self) -> float | None:
        """The RTO objective in seconds, whichever form it was written in."""
        return self.rto.within if isinstance(self.rto, RtoObjective) else self.rto

    @property
    def rto_from(self) -> str | None:
        return self.rto.from_ if isinstance(self.rto, RtoObjective) else None

    def origins(self) -> list[tuple[str, str]]:
        """``(objective, from)`` of every objective that names the fault it is timed from."""
        out = [("rto", self.rto_from)] if self.rto_from else []
        out += [("failover", self.failover.from_)] if self.failover is not None and self.failover.from_ else []
        return out

    @field_validator("slo")
    @classmethod
    def _slo(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        """Each threshold read now, as the judge will read it after the run (a bad one must not wait until then)."""
        for key, value in (v or {}).items():
            parse = _SLO_THRESHOLDS.get(key)
            if parse is None:
                near = suggest(key, list(_SLO_THRESHOLDS))
                known = "known: " + ", ".join(_SLO_THRESHOLDS)
                raise FieldError(f"unknown SLO threshold {key!r}", key,
                                 hint=f"did you mean {near!r}? {known}" if near else known)
            if value is None or (isinstance(value, str) and "${" in value):
                continue
            try:
                parse(value)
            except ValueError as exc:
                raise FieldError(f"slo.{key}: {exc}", key) from None
        return v


_FINE_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(off|(\d+(\.\d+)?\s*(ms|us|s|m|h|d)\s*)+)$"},
              {"type": "number", "minimum": 0.005, "maximum": 600.0}, {"type": "null"}],
    "description": "how often a probe is sampled while it fails (until it has held for stable_for again) and "
                   "for `watch` after each inject and revert: a duration between 5ms and 10m, or off "
                   "(default 25ms; never faster than one extra sample in flight per probe)"}


class Sampling(Strict):
    interval: Annotated[float, Within("duration", 0.005, 600.0, "sampling.interval")] = Field(
        0.25, description="time between two samples of one probe (between 5ms and 10m)")
    stable_for: Annotated[float, Within("duration", 0.0, HOUR, "sampling.stable_for")] = Field(
        3.0, description="how long every probe must hold to count as recovered (between 0s and 1h)")
    fine: Annotated[float | None, WithJsonSchema(_FINE_SCHEMA)] = Field(0.025)
    watch: Annotated[float, Within("duration", 0.0, HOUR, "sampling.watch")] = Field(
        2.0, description="how long every probe is sampled at the fine rate after each inject and revert "
                         "(between 0s and 1h)")

    @field_validator("fine", mode="before")
    @classmethod
    def _fine(cls, v: Any) -> float | None:
        """``off`` (or false / null) disables fine sampling; anything else is a duration of 5ms–10m."""
        if v is None or v is False or (isinstance(v, str) and v.strip().lower() == "off"):
            return None
        return Within("duration", 0.005, 600.0, "sampling.fine").validate(v)


class HttpStop(Strict):
    """A "big red button": the run stops when ``url`` answers ``status`` (and ``contains``, if given)."""

    url: str = Field(..., description="asked every sampling interval (timeout 1s)")
    status: int = Field(200, ge=100, le=599, description="the status that means stop")
    contains: str | None = Field(None, description="and the body must contain this")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_http_url(v, "a stop condition's URL", "write e.g. http://127.0.0.1:8000/stop")


class AbortCondition(Strict):
    """One stop condition (``abort_when:``): exactly one of the kinds below."""

    probe_failing_for: Annotated[float, Within("duration", 0.0, DAY, "probe_failing_for")] | None = Field(
        None, description="abort when a steady-state probe fails this long (between 0s and 24h)")
    probe: str | None = Field(None, description="with probe_failing_for: only this probe (default: any)")
    error_rate_above: Fraction | None = Field(
        None, description="abort when the load's error rate exceeds this (between 0% and 100%)")
    window: Window = Field(5.0, description="with error_rate_above: the sliding window (more than 0s, at most 1h)")
    promql: str | None = Field(None, min_length=1, description="abort when this PromQL is true (non-empty, non-zero)")
    prometheus: str | None = Field(None, description="with promql: the server (default: the inventory's)")
    http: HttpStop | None = Field(None, description="abort when this URL answers the given status")
    file: str | None = Field(None, min_length=1, description="abort when this file exists")
    cloudwatch_alarm: CloudWatchAlarmStop | None = Field(
        None, description="abort when a CloudWatch alarm is in ALARM (or the given state)")

    @model_validator(mode="after")
    def _one(self) -> AbortCondition:
        kinds = [k for k in ("probe_failing_for", "error_rate_above", "promql", "http", "file", "cloudwatch_alarm")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a stop condition is exactly one of probe_failing_for: <duration>, error_rate_above: "
                             "<percent>, promql: <expr>, http: {url, status}, file: <path> or cloudwatch_alarm: "
                             "{target, alarms}"
                             + (f" (this one has {', '.join(kinds)})" if kinds else ""))
        if self.prometheus is not None:
            check_http_url(self.prometheus, "a Prometheus URL", "write e.g. http://127.0.0.1:9090")
        return self


class Experiment(Strict):
    model_config = ConfigDict(defer_build=True)

    api_version: Literal["chaosrunner/v1"] = Field("chaosrunner/v1", alias="apiVersion")
    kind: Literal["Experiment"] = "Experiment"
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
    description: str = ""
    hypothesis: str = ""
    tags: list[str] = Field(default_factory=list)
    risks: RiskIds = risk_ids_field()
    severity: SeverityLevel | None = Field(None, description="how much its objectives weigh in a resilience score: "
                                                        "critical (8), high (4), medium (2), low (1); "
                                                        "default: the highest of its risks', else medium")
    targets: str | None = Field(None, description="path of the targets inventory, relative to this file")
    steady_state: list[SteadyStateEntry] = Field(default_factory=list)
    load: LoadSpec | None = Field(None, description="Locust load driven through the whole run")
    writer: WriterSpec | None = Field(None, description="the data-integrity writer (enables RPO measurement)")
    method: list[MethodStep] = Field(..., min_length=1)
    rollback: list[MethodStep] = Field(default_factory=list)
    objectives: Objectives = Field(default_factory=Objectives)
    sampling: Sampling = Field(default_factory=Sampling)
    abort_when: list[AbortCondition] = Field(default_factory=list)

    def probes(self) -> list[Any]:
        return [entry.probe for entry in self.steady_state]

    @model_validator(mode="after")
    def _origins_exist(self) -> Experiment:
        """An objective's ``from:`` names an action of the method (its ``name``) or a fault id (``f<N>``; the
        planner checks that it exists, it knows how groups expand)."""
        names = [step.action.name for step in self.method if step.action is not None and step.action.name]
        for which, ref in self.objectives.origins():
            if ref in names or (ref[:1] == "f" and ref[1:].isdigit()):
                continue
            near = suggest(ref, names) if names else None
            known = ("actions named in the method: " + ", ".join(names)) if names else \
                "no action of the method has a name: give the action `name: <name>`, or use a fault id (f1, f2, ...)"
            raise FieldError(f"objectives.{which}.from names {ref!r}, which is neither an action of the method "
                             "nor a fault id", "objectives", which, "from",
                             hint=f"did you mean {near!r}? {known}" if near else known)
        return self


class ExperimentFile(Strict):
    """A file of several experiments (the seed's layout)."""

    model_config = ConfigDict(defer_build=True)

    experiments: list[Experiment] = Field(..., min_length=1)
