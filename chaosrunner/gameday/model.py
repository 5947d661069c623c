"""The game-day model (``kind: GameDay``): a runbook of phases and steps, expected timings and
success criteria, on the same probes, faults, load and writer as an experiment.

A step is exactly one of ``action`` (any fault of the experiment format), ``revert`` (a fault by
its step ``id``, or ``all``), ``experiment`` (a nested experiment file), ``wait_until`` (a probe
condition with a ``timeout``), ``check`` (judged now: a probe condition, the writer's RPO or lost
writes so far, or a PromQL value — see ``Check``), ``command`` (a shell command,
its output recorded), ``manual`` (an instruction for a person) or ``note``. Offsets are written
``at: T+30s``; every ``at``, ``within`` and timeout is multiplied by ``--time-scale`` when run.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from chaosrunner import units
from chaosrunner.model.base import Duration, FieldError, Strict, Timeout, check_http_url
from chaosrunner.model.experiment import AbortCondition, FaultSpec, Sampling, SteadyStateEntry
from chaosrunner.model.traffic import LoadSpec
from chaosrunner.model.writer import WriterSpec
from chaosrunner.model.risks import RiskIds, SeverityLevel, risk_ids_field

STEP_KINDS = ("action", "revert", "experiment", "wait_until", "check", "command", "manual", "note")


def _offset(value: object) -> object:
    """``T+30s`` (or ``30s``, ``T+0``) → seconds after T+0."""
    if isinstance(value, str):
        text = value.strip()
        if text.upper().startswith("T+"):
            text = text[2:].strip()
        elif text.upper() == "T":
            text = "0s"
        if text in ("0", ""):
            return 0.0
        try:
            return units.parse_duration(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an offset; write e.g. at: T+30s or at: T+5m") from None
    return value


Offset = Annotated[Duration, BeforeValidator(_offset)]


class Condition(Strict):
    """A probe condition over the steady-state probes' samples: ``{probe: health, state: failing}``,
    ``{probe: primary, changed: true}`` (a value other than at the start of the measure),
    ``{probe: primary, equals: store-b}``, or ``{steady: true}`` (every probe — or every one of
    ``probes`` — ok for ``stable_for`` after the first failure)."""

    probe: str | None = None
    state: Literal["ok", "failing"] | None = None
    changed: bool | None = None
    equals: str | None = None
    steady: bool | None = None
    probes: list[str] | None = Field(None, description="with steady: only these probes (default: every one)")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        self._probe_test()
        return self

    def _probe_test(self) -> None:
        tests = [k for k in ("state", "changed", "equals") if getattr(self, k) is not None]
        if self.probes is not None and not self.steady:
            raise FieldError("probes: goes with `steady: true`", "probes",
                             hint="write {steady: true, probes: [a, b]}, or name one probe with probe:")
        if self.steady:
            if self.probe is not None or tests:
                raise FieldError("`steady: true` stands alone (every probe ok)", "steady",
                                 hint="remove probe:/state:/changed:/equals:, or steady:")
            return
        if self.probe is None:
            raise FieldError("a condition names a probe (or is `steady: true`)", hint="add `probe: <name>`")
        if len(tests) != 1:
            raise FieldError("a probe condition has exactly one of state:, changed: or equals:", "probe",
                             hint="e.g. {probe: health, state: failing} or {probe: primary, changed: true}")

    def text(self) -> str:
        if self.steady:
            return f"steady state ({', '.join(self.probes)} ok)" if self.probes else "steady state (every probe ok)"
        if self.state is not None:
            return f"{self.probe} {self.state}"
        if self.changed is not None:
            return f"{self.probe} changed"
        return f"{self.probe} = {self.equals}"


class Check(Condition):
    """A ``check`` step's assertion, judged when the step runs. A probe condition as above, or:

    - ``{rpo: 1m}``: the writer's RPO so far is at most this (as the ``rpo`` success criterion);
    - ``{lost_writes: 0}``: at most this many acknowledged writes lost so far (as the criterion);
    - ``{promql: "<expr>", below: X}`` / ``above: X`` / both (a range) / ``equals: X``: every series
      of the query's value now, from ``prometheus:`` or the inventory's Prometheus.

    "So far" is a read-back, at that moment, of every write acknowledged until then (a separate
    connection to the writer's store; the writer goes on writing)."""

    equals: str | float | None = Field(None, description="a probe's value, or with promql: a number")  # type: ignore[assignment]
    rpo: Duration | None = Field(None, description="the writer's RPO so far at most this")
    lost_writes: int | None = Field(None, ge=0, description="acknowledged writes lost so far: at most this many")
    promql: str | None = Field(None, min_length=1, description="a PromQL expression, with below:, above: or equals:")
    below: float | None = Field(None, description="with promql: every series' value below this")
    above: float | None = Field(None, description="with promql: every series' value above this")
    prometheus: str | None = Field(None, description="with promql: the server (default: the inventory's)")

    @model_validator(mode="before")
    @classmethod
    def _probe_value_text(cls, data: Any) -> Any:
        """``{probe: replicas, equals: 3}`` compares the probe's value as text, as every condition does."""
        if isinstance(data, dict) and "probe" in data and isinstance(data.get("equals"), (int, float)) \
                and not isinstance(data.get("equals"), bool):
            return {**data, "equals": str(data["equals"])}
        if isinstance(data, dict) and "promql" in data and isinstance(data.get("equals"), str):
            try:
                return {**data, "equals": float(data["equals"])}
            except ValueError:
                pass                         # refused below, with a fix
        return data

    @field_validator("prometheus")
    @classmethod
    def _prometheus_url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v, "a Prometheus server URL", "write e.g. http://127.0.0.1:9090")

    @model_validator(mode="after")
    def _one_test(self) -> Check:
        kinds = [k for k in ("rpo", "lost_writes", "promql") if getattr(self, k) is not None]
        if self.probe is not None or self.steady:
            kinds.insert(0, "probe" if self.probe is not None else "steady")
        if not kinds:
            raise FieldError("a check names what it checks", hint="e.g. {probe: health, state: ok}, {rpo: 1m}, "
                             "{lost_writes: 0} or {promql: 'up{job=\"api\"}', equals: 1}")
        if len(kinds) > 1:
            raise FieldError(f"a check is exactly one of probe, steady, rpo, lost_writes or promql (this one has "
                             f"{', '.join(kinds)})", kinds[1], hint="split it into one check step each")
        if self.promql is None:
            for k in ("below", "above", "prometheus"):
                if getattr(self, k) is not None:
                    raise FieldError(f"{k}: goes with promql:", k,
                                     hint="write {promql: '<expr>', " + ("below: 10}" if k != "above" else "above: 0}")
                                     + (" (or with rpo:, the bound itself: {rpo: 1m})" if kinds[0] == "rpo" else ""))
        if kinds[0] in ("probe", "steady"):
            if isinstance(self.equals, float):
                raise FieldError("equals: compares a probe's value as text", "equals", hint="quote it: equals: '3'")
            self._probe_test()
            return self
        if kinds[0] in ("rpo", "lost_writes"):
            for k in ("state", "changed", "equals", "probes"):
                if getattr(self, k) is not None:
                    raise FieldError(f"{k}: does not go with {kinds[0]}:", k,
                                     hint=f"write {{{kinds[0]}: {'1m' if kinds[0] == 'rpo' else '0'}}} alone")
            return self
        for k in ("state", "changed", "probes"):
            if getattr(self, k) is not None:
                raise FieldError(f"{k}: does not go with promql:", k, hint="use below:, above: or equals:")
        if isinstance(self.equals, str):
            raise FieldError(f"equals: {self.equals!r} is not a number; a PromQL value is compared with a number",
                             "equals", hint="write e.g. equals: 1")
        if self.equals is None and self.below is None and self.above is None:
            raise FieldError("a promql check compares the value: give below:, above: (or both) or equals:", "promql",
                             hint="e.g. {promql: 'sum(rate(http_errors_total[1m]))', below: 1}")
        if self.equals is not None and (self.below is not None or self.above is not None):
            raise FieldError("equals: stands alone (below:/above: give a range)", "equals",
                             hint="keep equals:, or below:/above:")
        if self.below is not None and self.above is not None and self.above >= self.below:
            raise FieldError(f"the range is empty: above {self.above:g} and below {self.below:g}", "above",
                             hint="above: is the lower bound, below: the upper one")
        return self

    def text(self) -> str:
        if self.rpo is not None:
            return f"RPO so far ≤ {units.format_duration(self.rpo)}"
        if self.lost_writes is not None:
            return f"acknowledged writes lost so far ≤ {self.lost_writes}"
        if self.promql is not None:
            return f"PromQL {self.promql} {self.bounds()}"
        return super().text()

    def bounds(self) -> str:
        if self.equals is not None:
            return f"= {self.equals:g}" if isinstance(self.equals, float) else f"= {self.equals}"
        parts = ([f"> {self.above:g}"] if self.above is not None else []) + (
            [f"< {self.below:g}"] if self.below is not None else [])
        return " and ".join(parts)


class WaitUntil(Condition):
    timeout: Duration = Field(..., description="give up after this (scaled by --time-scale)")
    critical: bool = Field(False, description="the day aborts when the wait times out")


class Manual(Strict):
    text: str = Field(..., min_length=1)
    auto: Literal["confirm", "skip"] = Field("confirm", description="the answer in --non-interactive runs")


def _manual(value: object) -> object:
    return {"text": value} if isinstance(value, str) else value


class Command(Strict):
    run: str = Field(..., min_length=1, description="a shell command")
    timeout: Timeout = 30.0
    expect_exit: int | None = Field(0, description="the exit code that means ok (null: any)")


def _command(value: object) -> object:
    return {"run": value} if isinstance(value, str) else value


class Step(Strict):
    """One runbook step: exactly one of the step kinds, with an optional ``id`` and ``name``."""

    model_config = ConfigDict(defer_build=True)

    id: str | None = Field(None, description="names the step: `revert: <id>`, an expected timing's `from:`")
    name: str | None = None
    action: FaultSpec | None = None
    revert: str | None = Field(None, description="the id of an action step, or `all`")
    experiment: str | None = Field(None, description="a nested experiment file, relative to this one")
    wait_until: WaitUntil | None = None
    check: Check | None = None
    command: Annotated[Command | None, BeforeValidator(_command)] = None
    manual: Annotated[Manual | None, BeforeValidator(_manual)] = None
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in data if k in STEP_KINDS]
            unknown = [k for k in data if k not in STEP_KINDS and k not in ("id", "name")]
            if not given and unknown:
                from chaosrunner.errors import suggest
                near = suggest(str(unknown[0]), list(STEP_KINDS))
                raise FieldError(f"unknown step kind {unknown[0]!r}", unknown[0],
                                 hint=(f"did you mean {near!r}? " if near else "") + "step kinds: "
                                 + ", ".join(STEP_KINDS))
            if len(given) != 1:
                raise FieldError("a step is exactly one of " + ", ".join(STEP_KINDS)
                                 + (f" (this one has {', '.join(given)})" if given else ""),
                                 hint="split it into one step per kind")
        return data

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    def label(self) -> str:
        if self.name:
            return self.name
        k = self.kind
        if k == "action":
            a = self.action
            assert a is not None
            op = getattr(a, "operation", None) or ""
            return " ".join(str(x) for x in (a.type, op, f"on {a.target}" if getattr(a, "target", None) else "") if x)
        if k == "wait_until":
            assert self.wait_until is not None
            return f"wait until {self.wait_until.text()}"
        if k == "check":
            assert self.check is not None
            return f"check {self.check.text()}"
        if k == "command":
            assert self.command is not None
            return self.command.run
        if k == "manual":
            assert self.manual is not None
            return self.manual.text
        return f"{k} {getattr(self, k)}"


class Phase(Strict):
    model_config = ConfigDict(defer_build=True)

    name: str = Field(..., min_length=1)
    at: Offset | None = Field(None, description="starts no earlier than this offset from T+0 (the first fault)")
    steps: list[Step] = Field(..., min_length=1)


class Timing(Strict):
    """An expected timing: from a phase's (or step's) start until a condition holds, within a bound."""

    within: Duration
    from_: str = Field("T+0", alias="from", description="a phase name, a step id, or T+0 (the first fault)")
    until: Condition


class FailbackCriterion(Strict):
    probe: str
    to: str = Field(..., description="the preferred node (the role probe's value)")
    within: Duration = Field(..., description="after the last fault is reverted")


class Criterion(Strict):
    """One success criterion: exactly one of the kinds below, with an optional ``name``."""

    name: str | None = None
    rpo: Duration | None = Field(None, description="data loss window at most this (from the writer)")
    rto: Duration | None = Field(None, description="steady state back within this of each fault")
    no_corruption: bool | None = None
    lost_writes: int | None = Field(None, ge=0, description="acknowledged writes lost: at most this many")
    failback: FailbackCriterion | None = None
    condition: Condition | None = Field(None, description="holds at the end of the day")

    @model_validator(mode="after")
    def _one(self) -> Criterion:
        kinds = [k for k in ("rpo", "rto", "no_corruption", "lost_writes", "failback", "condition")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise FieldError("a success criterion is exactly one of rpo, rto, no_corruption, lost_writes, "
                             "failback or condition", hint="e.g. - {rpo: 1m}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("rpo", "rto", "no_corruption", "lost_writes", "failback", "condition")
                    if getattr(self, k) is not None)


class GameDay(Strict):
    model_config = ConfigDict(defer_build=True)

    api_version: Literal["chaosrunner/v1"] = Field("chaosrunner/v1", alias="apiVersion")
    kind: Literal["GameDay"]
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
    scenario: str = ""
    description: str = ""
    risks: RiskIds = risk_ids_field()
    severity: SeverityLevel | None = Field(None, description="how much the day weighs in a suite's resilience score "
                                                        "(critical, high, medium, low)")
    roles: dict[str, str | list[str]] = Field(default_factory=dict)
    targets: str | None = None
    load: LoadSpec | None = None
    writer: WriterSpec | None = None
    sampling: Sampling = Field(default_factory=Sampling)
    steady_state: list[SteadyStateEntry] = Field(default_factory=list)
    abort_when: list[AbortCondition] = Field(default_factory=list)
    expected: dict[str, Timing] = Field(default_factory=dict)
    success_criteria: list[Criterion] = Field(default_factory=list)
    phases: list[Phase] = Field(..., min_length=1)

    @field_validator("phases")
    @classmethod
    def _forward(cls, phases: list[Phase]) -> list[Phase]:
        last, last_i = 0.0, None
        for i, ph in enumerate(phases):
            if ph.at is None:
                continue
            if ph.at < last:
                before = phases[last_i].name if last_i is not None else "?"
                raise FieldError(f"phase {ph.name!r} starts at T+{units.format_duration(ph.at)}, before phase "
                                 f"{before!r} (T+{units.format_duration(last)})", i, "at",
                                 hint="phases run in order: give each an `at` no earlier than the one before")
            last, last_i = ph.at, i
        names = [p.name for p in phases]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise FieldError(f"two phases are named {n!r}", i, "name", hint="give each phase a unique name")
        return phases

    def probes(self) -> list[Any]:
        return [e.probe for e in self.steady_state]


_OFFSET_PATTERN = r"^\s*(T\s*\+\s*)?(0|(\d+(\.\d+)?\s*(ms|us|s|m|h|d)\s*)+)\s*$|^\s*T\s*$"


def gameday_schema() -> dict[str, Any]:
    """The JSON Schema of a game-day file (``chaosrunner schema --gameday``), for editors and CI linting.

    It describes the shape; what needs the whole file (references between steps, probes, phases,
    targets, nested experiments) is checked by ``chaosrunner validate``."""
    from chaosrunner.drivers import registry

    registry()                     # every installed driver's fault types
    doc = GameDay.model_json_schema()
    defs = doc["$defs"]
    step = defs["Step"]["properties"]
    step["command"]["anyOf"].insert(0, {"type": "string", "minLength": 1,
                                        "description": "a shell command (short for {run: ...})"})
    step["manual"]["anyOf"].insert(0, {"type": "string", "minLength": 1,
                                       "description": "the instruction (short for {text: ...})"})
    at = defs["Phase"]["properties"]["at"]
    at["anyOf"][0] = {"anyOf": [{"type": "string", "pattern": _OFFSET_PATTERN},
                                {"type": "number", "minimum": 0, "maximum": units.MAX_DURATION_S}],
                      "description": "an offset from T+0: T+30s, T+5m (or 30s, a number of seconds)"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "chaosrunner game-day file", **doc}
