"""The verdict: one judged hypothesis or objective, with what was expected and what was measured."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"      # could not be measured (e.g. the writer's data was never read back)
    SKIPPED = "skipped"      # not judged in this run (e.g. the run aborted before it, or nothing called for it)


OBJECTIVE_KINDS = ("objective", "slo")
"""Verdict kinds that judge a declared objective (``objectives:`` of the experiment file)."""


@dataclass(frozen=True)
class Verdict:
    name: str                    # e.g. "steady state before", "rto", "rpo", "failover", "slo p99 (fault)"
    status: Status
    expected: str                # human text: "≤ 30s", "all probes ok"
    measured: str                # human text: "4.25s ± 0.25s"
    detail: str = ""             # why, in one or two sentences
    value: float | None = None   # machine value (seconds, fraction, count) where there is one
    precision: float | None = None
    kind: str = "hypothesis"     # hypothesis | objective | slo | rollback
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        d = dict(d)
        d["status"] = Status(d["status"])
        return cls(**d)


def unmeasured_objectives(verdicts: list[Verdict]) -> list[Verdict]:
    """Declared objectives that could not be measured: a run with one of these is *inconclusive*, not held."""
    return [v for v in verdicts if v.kind in OBJECTIVE_KINDS and v.status is Status.UNKNOWN]
