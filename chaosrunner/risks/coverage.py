"""Which risks of the register the experiments verify, and how recently: pure functions, no I/O, no clock.

Definitions (``chaosrunner risks`` and the index print the same):

- An experiment or game day **covers** a risk when its file declares it (``risks: [INFRA-001]``) or
  when a run of it recorded it (its run.json's ``experiment.risks``).
- A risk's **last verification** is the newest run of a covering experiment that held.
- Its **state**, from the last run of each covering experiment:
  - ``failed``: the last run of one of them did not hold (failed, inconclusive, aborted, or a fault
    could not be reverted);
  - ``stale``: each last run held, but the newest is older than the risk's review period
    (``review: weekly`` 7 days, ``monthly`` 31, ``quarterly`` 92, ``yearly`` 366);
  - ``held``: verified and held within its review period;
  - ``never``: no covering experiment has run (an **uncovered** risk, which no experiment declares,
    is ``never`` too: information, not a failure).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chaosrunner.analyse.status import RunStatus
from chaosrunner.model.risks import REVIEW_DAYS, Risk, RiskRegister


class State(StrEnum):
    HELD = "held"
    FAILED = "failed"
    STALE = "stale"
    NEVER = "never"

    @property
    def text(self) -> str:
        return STATE_TEXT[self]


STATE_TEXT = {State.HELD: "verified and held", State.FAILED: "failed", State.STALE: "stale (older than its review)",
              State.NEVER: "never verified"}


@dataclass(frozen=True)
class RunFact:
    """What coverage needs of one run."""

    run_id: str
    experiment: str
    started: datetime | None
    status: RunStatus
    risks: tuple[str, ...] = ()        # as its record says (empty: not known, or none)
    run_dir: str = ""


@dataclass(frozen=True)
class Cover:
    """One experiment (or game day) covering a risk, with its last run and its last verification."""

    experiment: str
    kind: str
    file: str | None
    last: RunFact | None
    last_held: RunFact | None


@dataclass(frozen=True)
class RiskCoverage:
    risk: Risk
    review: str
    review_days: int
    covers: tuple[Cover, ...]
    state: State
    last_verified: datetime | None
    days_since: float | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def uncovered(self) -> bool:
        return not self.covers


@dataclass(frozen=True)
class Declaration:
    """An experiment or game day a file declares, with its risks (``risks.declared.Declared`` without paths)."""

    name: str
    kind: str
    file: str | None
    risks: tuple[str, ...]


def coverage(register: RiskRegister, declared: Iterable[Declaration], runs: Iterable[RunFact],
             now: datetime) -> list[RiskCoverage]:
    """Every risk of ``register`` (in its order) with what covers it and its state at ``now``."""
    runs = list(runs)
    by_name: dict[str, list[RunFact]] = {}
    for r in sorted(runs, key=_newest_first):
        by_name.setdefault(r.experiment, []).append(r)
    covering: dict[str, dict[str, tuple[str, str | None]]] = {}        # risk → experiment → (kind, file)
    for d in declared:
        for risk_id in d.risks:
            covering.setdefault(risk_id, {}).setdefault(d.name, (d.kind, d.file))
    for r in runs:
        for risk_id in r.risks:
            covering.setdefault(risk_id, {}).setdefault(r.experiment, ("Experiment", None))
    out = []
    for risk in register.risks:
        review = register.review_of(risk)
        days = REVIEW_DAYS[review]
        covers = []
        for name, (kind, file) in sorted(covering.get(risk.id, {}).items()):
            mine = by_name.get(name, [])
            last = mine[0] if mine else None
            held = next((r for r in mine if r.status is RunStatus.HELD), None)
            covers.append(Cover(name, kind, file, last, held))
        out.append(_judge(risk, review, days, tuple(covers), now))
    return out


def _newest_first(r: RunFact) -> tuple[float, str]:
    return (-(r.started.timestamp() if r.started is not None else float("-inf")), r.run_id)


def _judge(risk: Risk, review: str, days: int, covers: tuple[Cover, ...], now: datetime) -> RiskCoverage:
    ran = [c for c in covers if c.last is not None]
    held = [c.last_held.started for c in covers if c.last_held is not None and c.last_held.started is not None]
    last_verified = max(held, default=None)
    since = (now - last_verified).total_seconds() / 86400 if last_verified is not None else None
    failed = [c for c in ran if c.last is not None and c.last.status is not RunStatus.HELD]
    if not covers:
        return RiskCoverage(risk, review, days, covers, State.NEVER, None, None, ("no experiment covers it",))
    if not ran:
        return RiskCoverage(risk, review, days, covers, State.NEVER, None, None,
                            ("no covering experiment has run",))
    if failed:
        reasons = tuple(f"the last run of {c.experiment} {c.last.status.value}" for c in failed if c.last is not None)
        return RiskCoverage(risk, review, days, covers, State.FAILED, last_verified, since, reasons)
    if since is None or since > days:
        return RiskCoverage(risk, review, days, covers, State.STALE, last_verified, since,
                            (f"last verified more than {days} days ago (review: {review})",))
    return RiskCoverage(risk, review, days, covers, State.HELD, last_verified, since)
