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

from pydantic import ConfigDict, Field, field_validator, model_validator

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
from chaosrunner.model.faults import Fault
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

ProbeSpec = Annotated[
    HttpProbeSpec | TcpProbeSpec | CommandProbeSpec | ProviderProbeSpec | MetricProbeSpec | RoleProbeSpec,
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


class FailoverObjective(Strict):
    probe: str | None = Field(None, description="name of the role probe; the only one when omitted")
    within: Duration = Field(..., description="a different primary serves within this (between 0s and 7d)")


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


class Objectives(Strict):
    rto: Duration | None = Field(None, description="recovery time objective: steady state back within this "
                                                    "(between 0s and 7d)")
    rpo: Duration | None = Field(None, description="recovery point objective: data loss window at most this "
                                                    "(between 0s and 7d)")
    failover: FailoverObjective | None = None
    failback: FailbackObjective | None = None
    slo: dict[str, Any] | None = Field(None, description="golden-signal thresholds: p50, p95, p99 (durations), "
                                                         "error_rate (between 0% and 100%), rps_min (a number ≥ 0)")

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


class Sampling(Strict):
    interval: Annotated[float, Within("duration", 0.005, 600.0, "sampling.interval")] = Field(
        0.25, description="time between two samples of one probe (between 5ms and 10m)")
    stable_for: Annotated[float, Within("duration", 0.0, HOUR, "sampling.stable_for")] = Field(
        3.0, description="how long every probe must hold to count as recovered (between 0s and 1h)")


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

    @model_validator(mode="after")
    def _one(self) -> AbortCondition:
        kinds = [k for k in ("probe_failing_for", "error_rate_above", "promql", "http", "file")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a stop condition is exactly one of probe_failing_for: <duration>, error_rate_above: "
                             "<percent>, promql: <expr>, http: {url, status} or file: <path>"
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


class ExperimentFile(Strict):
    """A file of several experiments (the seed's layout)."""

    model_config = ConfigDict(defer_build=True)

    experiments: list[Experiment] = Field(..., min_length=1)
