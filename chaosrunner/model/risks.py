"""The risk register (``kind: RiskRegister``, ``risks.yaml``): the risks a system runs, on the seed's scales.

Each risk has an ``id`` (``INFRA-001``), a ``title``, a ``category``, a ``severity`` on the seed's
§2.1 scale (critical / high / medium / low, each with its impact words), a ``probability`` on its
§2.2 scale (very high … very low, each with its likelihood and frequency), an ``owner``, its
``mitigations`` and how often it must be verified (``review: weekly | monthly | quarterly |
yearly``; the register's own ``review:`` by default, else monthly: the seed's §16 "monthly chaos
engineering exercises").

Experiments and game days declare the risks they verify (``risks: [INFRA-001]``, the ``RiskIds``
type below). When a register applies to the file (``chaosrunner.read.risks.register_for``), an id
that is not in it is an error at the id's own line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, model_validator

from chaosrunner.model.base import FieldError, Strict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


@dataclass(frozen=True)
class Level:
    """One step of a scale: its words, as the seed's tables give them."""

    label: str
    words: str              # §2.1: impact, recovery time, business impact; §2.2: likelihood, frequency


class Severity(StrEnum):
    """Seed §2.1, worst first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def level(self) -> Level:
        return SEVERITY_LEVELS[self]

    @property
    def rank(self) -> int:
        """0 for the worst."""
        return list(Severity).index(self)

    @property
    def weight(self) -> int:
        """What a judged objective of this severity weighs in a resilience score (``analyse.score``):
        8, 4, 2, 1 — each step twice the next."""
        return 2 ** (len(Severity) - 1 - self.rank)


SEVERITY_LEVELS = {
    Severity.CRITICAL: Level("Critical", "system-wide outage; recovery > 1 hour; complete service disruption"),
    Severity.HIGH: Level("High", "major feature unavailable; recovery 15-60 minutes; significant degradation"),
    Severity.MEDIUM: Level("Medium", "performance degradation; recovery 5-15 minutes; noticeable user impact"),
    Severity.LOW: Level("Low", "minor feature issue; recovery < 5 minutes; minimal user impact"),
}


class Probability(StrEnum):
    """Seed §2.2, likeliest first."""

    VERY_HIGH = "very_high"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    VERY_LOW = "very_low"

    @property
    def level(self) -> Level:
        return PROBABILITY_LEVELS[self]


PROBABILITY_LEVELS = {
    Probability.VERY_HIGH: Level("Very high", "> 75%; daily"),
    Probability.HIGH: Level("High", "50-75%; weekly"),
    Probability.MEDIUM: Level("Medium", "25-50%; monthly"),
    Probability.LOW: Level("Low", "10-25%; quarterly"),
    Probability.VERY_LOW: Level("Very low", "< 10%; yearly"),
}

REVIEW_DAYS = {"weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}
"""How old a verification may be before the risk counts as stale (a calendar period, rounded up)."""
Review = Literal["weekly", "monthly", "quarterly", "yearly"]
DEFAULT_REVIEW: Review = "monthly"


def _level_name(value: object) -> object:
    """``Critical``, ``Very Low``, ``very-low`` (the seed's spellings) → ``critical``, ``very_low``."""
    if isinstance(value, str):
        return re.sub(r"[\s\-]+", "_", value.strip().lower())
    return value


SeverityLevel = Annotated[Severity, BeforeValidator(_level_name)]
"""A severity as files write it: ``critical``, or the seed's ``Critical``."""


class Risk(Strict):
    """One risk of the register."""

    id: str = Field(..., pattern=ID_PATTERN, description="unique id, e.g. INFRA-001")
    title: str = Field(..., min_length=1)
    category: str = Field(..., min_length=1, description="e.g. Infrastructure, Application, Security")
    severity: SeverityLevel = Field(
        ..., description="seed §2.1: critical (system-wide outage, > 1 hour), high (major feature unavailable, "
                         "15-60 minutes), medium (performance degradation, 5-15 minutes), low (minor feature "
                         "issue, < 5 minutes)")
    probability: Annotated[Probability, BeforeValidator(_level_name)] = Field(
        ..., description="seed §2.2: very_high (> 75%, daily), high (50-75%, weekly), medium (25-50%, monthly), "
                         "low (10-25%, quarterly), very_low (< 10%, yearly)")
    owner: str = Field("", description="who answers for the risk")
    impact: list[str] = Field(default_factory=list)
    mitigations: dict[str, list[str]] | list[str] = Field(
        default_factory=list, description="a list, or lists by kind (primary:, secondary:, monitoring:)")
    review: Review | None = Field(None, description="how often it must be verified (default: the register's)")

    def mitigation_lines(self) -> list[str]:
        if isinstance(self.mitigations, list):
            return list(self.mitigations)
        return [f"{kind}: {m}" for kind, items in self.mitigations.items() for m in items]


class RiskRegister(Strict):
    """A ``kind: RiskRegister`` file."""

    api_version: Literal["chaosrunner/v1"] = Field("chaosrunner/v1", alias="apiVersion")
    kind: Literal["RiskRegister"]
    name: str = ""
    review: Review = Field(DEFAULT_REVIEW, description="the review period of a risk that names none")
    risks: list[Risk] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RiskRegister:
        seen: set[str] = set()
        for i, risk in enumerate(self.risks):
            if risk.id in seen:
                raise FieldError(f"risk id {risk.id!r} appears twice", "risks", i, "id",
                                 hint="give each risk a unique id")
            seen.add(risk.id)
        return self

    def get(self, risk_id: str) -> Risk | None:
        return next((r for r in self.risks if r.id == risk_id), None)

    def ids(self) -> list[str]:
        return [r.id for r in self.risks]

    def review_of(self, risk: Risk) -> Review:
        return risk.review or self.review

    def severity_of(self, risk_id: str) -> str | None:
        """What a resilience score weighs an objective by: the risk's severity (None: not in the register)."""
        risk = self.get(risk_id)
        return risk.severity.value if risk is not None else None


def _check_ids(ids: list[str], info: ValidationInfo) -> list[str]:
    """Each id once; and each one in the register that applies to the file being read, which the reader
    checks (``chaosrunner.read.risks``): it passes ``check_risk_ids(ids)`` in the validation context."""
    for i, risk_id in enumerate(ids):
        if risk_id in ids[:i]:
            raise FieldError(f"risk {risk_id!r} is listed twice", i, hint="list each risk once")
    check = info.context.get("check_risk_ids") if isinstance(info.context, dict) else None
    if check is not None and ids:
        check(ids)
    return ids


RiskIds = Annotated[list[Annotated[str, Field(pattern=ID_PATTERN)]], AfterValidator(_check_ids)]
"""``risks: [INFRA-001, APP-003]`` on an experiment or a game day: the register's risks it verifies."""


def risk_ids_field() -> Any:
    return Field(default_factory=list, description="ids of the risk register's risks this verifies "
                                                   "(checked against risks.yaml when one is found)")
