"""The experiment model (apiVersion chaosrunner/v1): what healthy means, what to break, what to expect.

A file holds one experiment, or several under ``experiments:`` (the seed's §10.1 file loads as
it is). Raw dicts exist only in ``chaosrunner.read.parse``; everything past it uses these models.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from chaosrunner.model.base import Duration, Fraction, Strict
from chaosrunner.model.faults import (
    ErrorFault,
    LatencyFault,
    NetworkFault,
    ProcessFault,
    ProviderAction,
    ResourceFault,
)
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

ProbeSpec = Annotated[
    HttpProbeSpec | TcpProbeSpec | CommandProbeSpec | ProviderProbeSpec | MetricProbeSpec | RoleProbeSpec,
    Field(discriminator="type"),
]
FaultSpec = Annotated[
    NetworkFault | LatencyFault | ErrorFault | ResourceFault | ProcessFault | ProviderAction,
    Field(discriminator="type"),
]


class SteadyStateEntry(Strict):
    probe: ProbeSpec


class MethodStep(Strict):
    """One step of the method: exactly one of ``action``, ``pause`` or ``probe``."""

    action: FaultSpec | None = None
    pause: Duration | None = None
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
    within: Duration


class FailbackObjective(Strict):
    probe: str | None = None
    within: Duration


class Objectives(Strict):
    rto: Duration | None = Field(None, description="recovery time objective: steady state back within this")
    rpo: Duration | None = Field(None, description="recovery point objective: data loss window at most this")
    failover: FailoverObjective | None = None
    failback: FailbackObjective | None = None
    slo: dict[str, Any] | None = Field(None, description="golden-signal thresholds: p50, p95, p99, error_rate, rps_min")


class Sampling(Strict):
    interval: Duration = Field(0.25, description="time between two samples of one probe")
    stable_for: Duration = Field(3.0, description="how long every probe must hold to count as recovered")

    @model_validator(mode="after")
    def _sane(self) -> Sampling:
        if self.interval < 0.005:
            raise ValueError("sampling interval below 5ms is not supported; use e.g. 250ms")
        return self


class AbortCondition(Strict):
    probe_failing_for: Duration | None = Field(None, description="abort when a steady-state probe fails this long")
    probe: str | None = Field(None, description="with probe_failing_for: only this probe (default: any)")
    error_rate_above: Fraction | None = Field(None, description="abort when the load's error rate exceeds this")
    window: Duration = Field(5.0, description="with error_rate_above: the sliding window")

    @model_validator(mode="after")
    def _one(self) -> AbortCondition:
        if (self.probe_failing_for is None) == (self.error_rate_above is None):
            raise ValueError("a stop condition is probe_failing_for: <duration> or error_rate_above: <percent>")
        return self


class Experiment(Strict):
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

    experiments: list[Experiment] = Field(..., min_length=1)
