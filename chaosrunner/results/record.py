"""The run record: one typed model of everything a run wrote to ``run.json`` (schema chaosrunner/run/v2).

A run builds it (``results.document.run_document``), writes it (``write_run_json``), and the report,
JUnit, summary.md and the index read it back (``read_run_record``); none of them sees a dict.
``RunRecord.run_record_schema()`` is the published JSON Schema (``chaosrunner schema --run-record``):
every field is present in a written file (fields with defaults only matter when reading), and a
part that is not typed here says so (``raw``, event and verdict ``data``, target handles).

The timeline's records (``Event``, ``Sample``, ``LoadStat``, ``WriteRecord``) and ``Verdict`` are the
analysis' own dataclasses, validated in place: the record does not copy their shapes.

What v2 changed from v1 (``results.migrate`` turns a v1 document into this model):
- ``schema`` is ``chaosrunner/run/v2``; ``status`` is a ``RunStatus`` and ``exit_code`` is the one
  it owns (a file whose exit code disagrees with its status is refused);
- a fault window's measurements always use the analysis' names (``window``, ``t0``,
  ``reverted_at``, ``detection_time``, ``recovery_time``; v1 files written by hand also used
  ``index``, ``start``, ``end``, ``detection``, ``recovery``) and carry the window's ``targets``;
- ``started``/``ended`` are UTC timestamps; unknown keys are refused (``extra="forbid"``) except
  in the declared objectives, which follow the experiment model.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer, model_validator

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Verdict
from chaosrunner.model.risks import Severity
from chaosrunner.timeline import Event, LoadStat, Sample, Timeline, WriteRecord

RUN_SCHEMA: Final = "chaosrunner/run/v2"
RUN_SCHEMA_V1: Final = "chaosrunner/run/v1"


class Part(BaseModel):
    """A part of the record: unknown keys refused; every field present when written."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# -- the experiment, as declared --------------------------------------------------------------------
class RoleObjective(Part):
    model_config = ConfigDict(populate_by_name=True)

    probe: str | None = Field(None, description="the role probe judged (the only one when null)")
    within: float = Field(description="seconds")
    from_: str | None = Field(None, alias="from", description="the fault it is timed from (null: each window's t0)")


class TimedObjective(Part):
    """``rto: {within, from}``: a time objective measured from a named fault."""

    model_config = ConfigDict(populate_by_name=True)

    within: float = Field(description="seconds")
    from_: str | None = Field(None, alias="from", description="an action's name or a fault id")


class DeclaredObjectives(Part):
    """The experiment's ``objectives:`` in seconds; objectives this version does not know are kept as written."""

    model_config = ConfigDict(extra="allow")

    rto: float | TimedObjective | None = None
    rpo: float | None = None
    failover: RoleObjective | None = None
    failback: RoleObjective | None = None
    slo: dict[str, Any] | None = Field(None, description="golden-signal thresholds as written (p99: 500ms, ...)")


class ExperimentInfo(Part):
    name: str
    description: str | None = None
    hypothesis: str | None = None
    file: str | None = Field(None, description="the experiment file the run was started from")
    kind: Literal["Experiment", "GameDay"] = "Experiment"
    severity: Severity | None = Field(
        None, description="the file's own severity (null: none given; a score then takes its risks' or medium)")
    risks: list[str] = Field(default_factory=list, description="ids of the risk register's risks the file says it "
                                                               "verifies (its `risks:`)")
    objectives: DeclaredObjectives = Field(default_factory=DeclaredObjectives)
    raw: dict[str, Any] = Field(default_factory=dict, description="the experiment as written: references "
                                                                  "unresolved, so no secret value (untyped)")

    @model_validator(mode="before")
    @classmethod
    def _risks_as_written(cls, data: Any) -> Any:
        """A record built without ``risks`` (a game day's, an older file's) takes the ones its file declares."""
        if isinstance(data, dict) and "risks" not in data and isinstance(data.get("raw"), dict):
            declared = data["raw"].get("risks")
            if isinstance(declared, list) and all(isinstance(r, str) for r in declared):
                data = {**data, "risks": list(declared)}
        return data


class SamplingInfo(Part):
    interval: float = Field(description="seconds between two samples of one probe while every probe holds")
    stable_for: float = Field(description="seconds every probe must hold to count as recovered")
    fine: float | None = Field(None, description="seconds between samples of a failing probe, and after each "
                                                 "inject and revert (null: fine sampling off)")
    watch: float | None = Field(None, description="seconds of fine sampling after each inject and revert")


# -- the plan -----------------------------------------------------------------------------------------
class PlannedFaultInfo(Part):
    fault_id: str
    target: str
    driver: str
    inject: str = Field(description="what the driver does to inject it")
    revert: str = Field(description="what the driver does to revert it")


class PlanStepInfo(Part):
    index: int
    kind: str = Field(description="action | pause | probe")
    label: str
    at: float = Field(description="expected start, seconds after the method starts")
    duration: float | None = None
    faults: list[PlannedFaultInfo] = Field(default_factory=list)


class PlanInfo(Part):
    """What ``chaosrunner plan`` shows: each step, each fault with its driver, inject and revert."""

    experiment: str = ""
    environment: str = ""
    blast_radius: list[str] = Field(default_factory=list)
    drivers: list[str] = Field(default_factory=list)
    expected_duration: float | None = None
    probes: list[str] = Field(default_factory=list)
    method: list[PlanStepInfo] = Field(default_factory=list)
    rollback: list[PlanStepInfo] = Field(default_factory=list)
    outside_loopback: list[str] = Field(default_factory=list)


# -- the timeline -------------------------------------------------------------------------------------
class TimelineRecord(Part):
    """Every event, probe sample, second of load statistics and write, on the run's clock (seconds)."""

    started_wall: float = Field(0.0, description="Unix time of t = 0")
    events: list[Event] = Field(default_factory=list)
    samples: list[Sample] = Field(default_factory=list)
    load_stats: list[LoadStat] = Field(default_factory=list)
    writes: list[WriteRecord] = Field(default_factory=list)

    def to_timeline(self) -> Timeline:
        tl = Timeline(clock=lambda: 0.0, wall_clock=lambda: self.started_wall)
        tl.events, tl.samples = list(self.events), list(self.samples)
        tl.load_stats, tl.writes = list(self.load_stats), list(self.writes)
        return tl

    @classmethod
    def of(cls, tl: Timeline) -> TimelineRecord:
        return cls.model_construct(started_wall=tl.started_wall, events=list(tl.events), samples=list(tl.samples),
                                   load_stats=list(tl.load_stats), writes=list(tl.writes))


# -- measurements -------------------------------------------------------------------------------------
# null = not measured (or, for a time, unbounded: its flag beside it says which)
class SplitBrain(Part):
    t: float
    nodes: list[str]


class FailoverMeasurement(Part):
    """What the role probe showed in one fault window (``analyse.failover``)."""

    window: int | None = None
    t0: float | None = None
    reverted_at: float | None = None
    probe: str | None = None
    resolution: float | None = None
    primary_before: str | None = None
    failed_over: bool | None = None
    new_primary: str | None = None
    failover_time: float | None = Field(None, description="null: no failover with the steady state ok")
    failover_at: float | None = None
    failed_back: bool | None = None
    failback_time: float | None = Field(None, description="null: no failback observed")
    failback_at: float | None = None
    split_brain: list[SplitBrain] = Field(default_factory=list)
    measured: bool = True
    note: str = ""
    deviated: bool | None = Field(None, description="a steady-state sample failed in the window")
    origin: str | None = Field(None, description="objectives.failover.from: the fault it is timed from")
    origin_at: float | None = Field(None, description="run clock of that fault's injection (null: not here)")
    failback_resolution: float | None = Field(None, description="± on failback_time as the samples achieved it "
                                                                "(resolution is the failover's)")


class WindowFault(Part):
    """One fault of a window (overlapping faults share one), with its offsets from the window's t0."""

    fault_id: str
    step: str | None = Field(None, description="the action's name, when it has one")
    target: str = ""
    type: str = ""
    offset: float = Field(description="seconds after t0 that it became effective")
    reverted: float | None = Field(None, description="seconds after t0 that it was reverted; null: never")


class UsersEndpoint(Part):
    """Recovery as the load's users saw it, for one endpoint or overall (``analyse.users``)."""

    name: str
    requests: int = 0
    failures: int = 0
    affected: bool = False
    recovered: bool = True
    recovery_time: float | None = Field(None, description="last failed request − t0; null with recovered false: "
                                                          "failing until the end")
    recovered_at: float | None = Field(None, description="run clock: start of the last failed request")
    first_failure_at: float | None = None
    first_ok_after: float | None = Field(None, description="run clock: first success after the last failure")
    resolution: float | None = Field(None, description="1 / request rate around the recovery (seconds)")


class UsersRecoveryMeasurement(Part):
    window: int
    t0: float
    overall: UsersEndpoint
    endpoints: list[UsersEndpoint] = Field(default_factory=list)


class WriterViewMeasurement(Part):
    """What the integrity writer saw of one window (``analyse.integrity.writes_in_window``)."""

    window: int
    t0: float
    resolution: float | None = Field(None, description="one write interval")
    longest_gap: float | None = Field(None, description="longest time between two acknowledgements (seconds)")
    gap_from: float | None = None
    gap_to: float | None = None
    failed: int = 0
    first_ack_after_outage: float | None = Field(None, description="first acknowledgement after the last failed "
                                                                   "write, seconds after t0; null: none failed")
    first_ack_after_outage_at: float | None = None
    note: str = ""


class WindowMeasurement(Part):
    """One fault window: detection, recovery (``analyse.recovery``), failover; times in seconds."""

    window: int = Field(description="0-based index of the fault window")
    t0: float = Field(description="run clock: the window's first fault became effective")
    reverted_at: float | None = Field(None, description="run clock: its last revert; null = never reverted")
    targets: list[str] = Field(default_factory=list)
    scope_end: float | None = None
    resolution: float | None = Field(None, description="± on recovery_time, as the samples achieved it: the "
                                                        "first stable sample minus the last failed one")
    stable_for: float | None = None
    samples: int | None = None
    failed_samples: int | None = None
    detected: bool | None = None
    detection_time: float | None = None
    first_failure: dict[str, Any] | None = Field(None, description="{probe, t, error, resolution} of the first "
                                                                   "failed sample (resolution: ± on detection_time)")
    recovered: bool | None = None
    recovery_time: float | None = Field(None, description="RTO measured; null with recovered false: never")
    recovered_at: float | None = None
    out_of_slo: float | None = None
    deviations: int | None = None
    relapses: int | None = None
    flapping: bool | None = None
    measured: bool = Field(True, description="false: no steady-state sample in the window")
    note: str = ""
    failover: float | None = Field(None, description="failover time (seconds); null: none happened")
    failover_result: FailoverMeasurement | None = None
    origin: str | None = Field(None, description="objectives.rto.from: the fault recovery time is measured from")
    origin_at: float | None = Field(None, description="run clock of that fault's injection (t0 without an origin)")
    faults: list[WindowFault] = Field(default_factory=list, description="every fault of the window")
    users: UsersRecoveryMeasurement | None = Field(None, description="recovery seen by the load")
    writes: WriterViewMeasurement | None = Field(None, description="what the writer saw")


class IncidentMeasurement(Part):
    """One data-loss incident (``analyse.integrity.incidents``); instants on the run clock."""

    index: int
    window: int | None = Field(None, description="the fault window it is attributed to")
    lost: int
    first_seq: int
    last_seq: int
    first_lost_ack: float
    last_lost_ack: float
    reference: float = Field(description="ack of the newest survivor before it (or the first lost write's sending)")
    rpo: float
    note: str = ""


class IntegrityMeasurement(Part):
    """The data-integrity writer's read-back (``analyse.integrity``)."""

    writes: int | None = None
    acknowledged: int | None = None
    unacknowledged: int | None = None
    read_back: bool | None = None
    present: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    corrupted: int | None = None
    unacknowledged_present: int | None = None
    rpo: float | None = Field(None, description="RPO measured, seconds")
    resolution: float | None = Field(None, description="one write interval")
    loss_window: tuple[float, float] | None = None
    last_surviving_before_loss: float | None = None
    lost_seqs: list[tuple[int, int]] = Field(default_factory=list, description="[first, last] ranges")
    note: str = ""
    incidents: list[IncidentMeasurement] = Field(default_factory=list, description="lost writes grouped by incident")
    worst_incident: int | None = Field(None, description="index of the incident RPO measured comes from")


class SloWindow(Part):
    """The golden signals of one SLO window (``analyse.slo``); latencies in milliseconds."""

    requests: int | None = None
    failures: int | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    error_rate: float | None = None
    rps: float | None = None
    seconds: int | None = None
    span: tuple[float | None, float | None] | None = None


class WorstWindow(Part):
    window: int
    value: float | None = Field(None, description="seconds; null with unbounded true: never")
    unbounded: bool = False


class Measurements(Part):
    windows: list[WindowMeasurement] = Field(default_factory=list)
    integrity: IntegrityMeasurement | None = None
    slo: dict[str, SloWindow] | None = Field(None, description="baseline, fault and recovery windows")
    worst: dict[str, WorstWindow] = Field(default_factory=dict, description="per figure (detection_time, "
                                          "recovery_time, failover, users_recovery, writes_longest_gap): the "
                                          "window it is worst in, which the run is judged on")


# -- game day and notes -------------------------------------------------------------------------------
class Note(Part):
    t: float | None = Field(None, description="run clock")
    author: str | None = None
    text: str = ""


class GameDayStep(Part):
    kind: str = ""
    name: str = ""
    status: str = Field("", description="ok | passed | done | confirmed | failed | timeout | skipped")
    t: float | str | None = None
    took: float | None = None
    detail: str = ""


class GameDayPhase(Part):
    name: str = ""
    started: float | str | None = None
    ended: float | str | None = None
    steps: list[GameDayStep] = Field(default_factory=list)


class Criterion(Part):
    name: str = ""
    expected: str = ""
    measured: str = ""
    status: str = ""


class ActionItem(Part):
    text: str = ""
    owner: str = ""
    done: bool = False


class GameDayRecord(Part):
    phases: list[GameDayPhase] = Field(default_factory=list)
    criteria: list[Criterion | str] = Field(default_factory=list)
    action_items: list[ActionItem | str] = Field(default_factory=list)
    roles: dict[str, str | list[str]] = Field(default_factory=dict)


class LoadFiles(Part):
    csv: list[str] = Field(default_factory=list, description="Locust's CSV files in the run folder")
    log: str | None = "locust.log"


# -- the record ---------------------------------------------------------------------------------------
class RunRecord(Part):
    """One experiment run as ``run.json`` holds it."""

    model_config = ConfigDict(title="chaosrunner run record (run.json)")

    schema_version: Literal["chaosrunner/run/v2"] = Field(RUN_SCHEMA, alias="schema")
    run_id: str
    experiment: ExperimentInfo
    targets: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                               description="the resolved inventory's targets, secrets redacted")
    environment: str = ""
    status: RunStatus
    exit_code: int = Field(description="the status' exit code (RunStatus owns it; filled in when not given)")
    started: AwareDatetime | None = None
    ended: AwareDatetime | None = None
    duration_s: float | None = None
    sampling: SamplingInfo | None = None
    probes: list[str] = Field(default_factory=list, description="steady-state probe names")
    abort_reason: str | None = None
    errors: list[str] = Field(default_factory=list)
    revert_failures: list[str] = Field(default_factory=list)
    plan: PlanInfo | None = None
    timeline: TimelineRecord = Field(default_factory=TimelineRecord)
    verdicts: list[Verdict] = Field(default_factory=list)
    measurements: Measurements = Field(default_factory=Measurements)
    notes: list[Note] = Field(default_factory=list)
    gameday: GameDayRecord | None = None
    load: LoadFiles | None = None
    versions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _exit_code_of_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("exit_code") is None and data.get("status") in set(RunStatus):
            data = {**data, "exit_code": RunStatus(data["status"]).exit_code}
        return data

    @model_validator(mode="after")
    def _exit_code_matches(self) -> RunRecord:
        if self.exit_code != self.status.exit_code:
            raise ValueError(f"exit_code {self.exit_code} does not match status {self.status.value!r} "
                             f"(whose exit code is {self.status.exit_code})")
        return self

    @field_serializer("started", "ended")
    def _iso(self, value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def to_timeline(self) -> Timeline:
        return self.timeline.to_timeline()

    def document(self) -> dict[str, Any]:
        """The record as plain JSON values (what run.json holds): unbounded or NaN numbers become null."""
        return finite(self.model_dump(mode="json", by_alias=True, fallback=_json_fallback))

    @classmethod
    def run_record_schema(cls) -> dict[str, Any]:
        """The JSON Schema of a written run.json (``chaosrunner schema --run-record``)."""
        doc = cls.model_json_schema(mode="serialization", by_alias=True)
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://chaosrunner.dev/schemas/run/v2.json", **doc}


def finite(obj: Any) -> Any:
    """JSON has no infinity: unbounded measurements become null (their verdict says 'never')."""
    if isinstance(obj, float) and (obj in (float("inf"), float("-inf")) or obj != obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def _json_fallback(obj: Any) -> Any:
    """A value in an untyped part (event data, a probe's value) that JSON has no type for."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "value"):
        return obj.value
    return repr(obj)
