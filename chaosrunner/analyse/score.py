"""The resilience score: 0–100 per run and per suite, from a run record's verdicts alone.

Definitions (the README and the report's definitions print the same):

- **Parts.** Every verdict a run judged is a part: its objectives (RTO, RPO, failover, failback,
  split brain, data integrity, each SLO threshold in each window, a game day's expected timings)
  and its hypotheses (steady state before and after, held during the faults, rollbacks). A
  verdict that did not apply (``skipped``: no fault was injected, no failover was needed) is no
  part, except in a run that was aborted or could not revert a fault, where it counts 0.
- **Points** (0–1). A part with a numeric bound scores by how far inside the bound it landed:
  passed → ``0.5 + 0.5 × margin``, failed → 0, where for an upper bound (RTO ≤ 30s, p99 < 500ms)
  ``margin = 1 − measured / bound`` (a bound of 0 met exactly: margin 1) and for a lower bound
  (rps ≥ 50/s) ``margin = 1 − bound / measured``. So a failover of 2.5s under a 30s objective
  scores 0.96, one of 29s scores 0.52, one of 31s scores 0. A part without a numeric bound
  (steady state, split brain, data integrity) scores 1 passed, 0 failed. **Unmeasured counts as
  failed**: a part whose verdict is ``unknown`` scores 0.
- **Weights.** A part weighs its severity's weight — critical 8, high 4, medium 2, low 1 —
  divided by the number of parts judging the same objective (the fault windows of an RTO, the
  three SLO windows of a p99), so an objective counts once however many windows judged it. The
  severity is the experiment's own (``severity:``), else the highest of its risks' (``risks:``,
  looked up in the register), else medium.
- **Run score** = 100 × Σ weight × points / Σ weight, rounded to 0.1; 0 when nothing was judged.
  Every part of a run shares its severity, so a run's score does not depend on it: severity
  weighs runs against each other in a suite.
- **Suite score** (all experiments of a schedule or a game day) = the severity-weighted mean of
  its runs' scores: Σ w × score / Σ w with w = 8, 4, 2, 1.

Pure functions: no I/O, no clock; the same run.json always gives the same score.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chaosrunner import units
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.model.risks import Severity

SEVERITY_WEIGHTS: Final[dict[str, int]] = {s.value: s.weight for s in Severity}
"""critical 8, high 4, medium 2, low 1: the seed's §2.1 scale (``model.risks.Severity``), weighted."""
DEFAULT_SEVERITY: Final = Severity.MEDIUM.value
RiskSeverity = Callable[[str], str | None]
"""A risk id → its severity in the register (None: not in it)."""

_WINDOWED = re.compile(r"^(?P<objective>.+?) \((?:fault window \d+|baseline|fault|recovery)\)$")
_BOUND = re.compile(r"(?P<op>≤|<|≥)\s*(?P<value>[0-9.]+\s*(?:ms|s|m|h|d|%|/s)?)")


@dataclass(frozen=True)
class ScorePart:
    """One judged verdict's share of a score."""

    name: str                       # the verdict ("rto", "slo p99 (fault)") or, in a suite, the run
    severity: str
    weight: float
    measured: float | None          # seconds, a fraction, a count, or a run's score (suite)
    bound: float | None             # the objective's bound in the same unit; None: pass/fail only
    points: float                   # 0–1
    note: str = ""


@dataclass(frozen=True)
class Score:
    """A resilience score: ``value`` 0–100 (rounded to 0.1) and the parts it is made of."""

    value: float
    parts: tuple[ScorePart, ...]
    severity: str = DEFAULT_SEVERITY

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "severity": self.severity,
                "parts": [{"name": p.name, "severity": p.severity, "weight": p.weight, "measured": p.measured,
                           "bound": p.bound, "points": p.points, "note": p.note} for p in self.parts]}


def severity_of(record: Any, risk_severity: RiskSeverity | None = None) -> str:
    """The run's severity: its file's own, else the highest of its risks', else medium."""
    own = getattr(record.experiment, "severity", None)
    if own in SEVERITY_WEIGHTS:
        return str(own)
    risks = getattr(record, "risks", None) or getattr(record.experiment, "risks", None) or []
    if risk_severity is not None:
        found = [s for s in (risk_severity(r) for r in risks) if s in SEVERITY_WEIGHTS]
        if found:
            return max(found, key=lambda s: SEVERITY_WEIGHTS[str(s)])  # type: ignore[return-value]
    return DEFAULT_SEVERITY


def objective_of(verdict_name: str) -> str:
    """The objective a verdict judges: "rto (fault window 2)" → "rto", "slo p99 (fault)" → "slo p99"."""
    m = _WINDOWED.match(verdict_name)
    return m.group("objective") if m else verdict_name


def _number(value: Any, parse: Callable[[Any], float]) -> float | None:
    if value is None:
        return None
    try:
        number = float(parse(value))
    except (ValueError, TypeError):
        return None
    return number if math.isfinite(number) else None


def bound_of(verdict: Verdict, objectives: Any) -> tuple[float | None, str]:
    """The numeric bound a verdict was judged against, and its direction ("upper" or "lower").

    From the declared objectives (``rto``, ``rpo``, ``failover.within``, ``failback.within``,
    ``slo``); a game day's expected timing from its verdict ("≤ 30s from …"). None: pass/fail only."""
    objective = objective_of(verdict.name)
    if objective in ("rto", "rpo"):
        return _number(getattr(objectives, objective, None), float), "upper"
    if objective in ("failover", "failback"):
        declared = getattr(objectives, objective, None)
        return _number(getattr(declared, "within", None), float), "upper"
    if verdict.kind == "slo":
        metric = str(verdict.data.get("metric", ""))
        slo = getattr(objectives, "slo", None) or {}
        if metric in ("p50", "p95", "p99"):
            return _number(slo.get(metric), units.parse_duration), "upper"
        if metric == "error_rate":
            return _number(slo.get("error_rate"), units.parse_fraction), "upper"
        if metric == "rps":
            return _number(slo.get("rps_min"), float), "lower"
        return None, "upper"
    if verdict.name.startswith("expected ") or verdict.name == "automatic failback":
        m = _BOUND.search(verdict.expected)
        if m and m.group("op") == "≤":
            return _number(m.group("value").replace(" ", ""), units.parse_duration), "upper"
    return None, "upper"


def points_of(verdict: Verdict, bound: float | None, direction: str) -> tuple[float, str]:
    """A verdict's points (0–1) and why (see the module docstring)."""
    if verdict.status is Status.UNKNOWN:
        return 0.0, "not measured: counts as failed"
    if verdict.status is Status.SKIPPED:
        return 0.0, "not judged: the run ended before it"
    if verdict.status is Status.FAILED:
        return 0.0, "failed"
    measured = verdict.value
    if bound is None or measured is None or not math.isfinite(measured):
        return 1.0, "passed"
    if direction == "lower":
        margin = 1.0 if measured <= 0 and bound <= 0 else (1.0 - bound / measured if measured > 0 else 0.0)
    elif bound <= 0:
        margin = 1.0 if measured <= 0 else 0.0
    else:
        margin = 1.0 - measured / bound
    margin = min(1.0, max(0.0, margin))
    return 0.5 + 0.5 * margin, f"passed, {margin * 100:.0f}% inside the bound"


def _rounded(x: float) -> float:
    return round(x + 0.0, 1) + 0.0


def score_verdicts(verdicts: Sequence[Verdict], objectives: Any, severity: str = DEFAULT_SEVERITY,
                   count_skipped: bool = False) -> Score:
    """The score of a list of verdicts judged against ``objectives`` (the experiment's declared ones)."""
    judged = [v for v in verdicts if count_skipped or v.status is not Status.SKIPPED]
    per_objective: dict[str, int] = {}
    for v in judged:
        per_objective[objective_of(v.name)] = per_objective.get(objective_of(v.name), 0) + 1
    weight = SEVERITY_WEIGHTS.get(severity, SEVERITY_WEIGHTS[DEFAULT_SEVERITY])
    parts = []
    for v in judged:
        bound, direction = bound_of(v, objectives)
        points, note = points_of(v, bound, direction)
        measured = v.value if v.value is not None and math.isfinite(v.value) else None
        parts.append(ScorePart(name=v.name, severity=severity, weight=weight / per_objective[objective_of(v.name)],
                               measured=None if measured is None else float(measured), bound=bound,
                               points=round(points, 4), note=note))
    total = sum(p.weight for p in parts)
    value = 100.0 * sum(p.weight * p.points for p in parts) / total if total else 0.0
    return Score(value=_rounded(value), parts=tuple(parts), severity=severity)


def score_run(record: Any, risk_severity: RiskSeverity | None = None) -> Score:
    """The score of one run (a ``RunRecord``: an experiment's or a game day's)."""
    interrupted = record.status in (RunStatus.ABORTED, RunStatus.REVERT_FAILED)
    return score_verdicts(record.verdicts, record.experiment.objectives, severity_of(record, risk_severity),
                          count_skipped=interrupted)


def score_suite(records: Iterable[Any], risk_severity: RiskSeverity | None = None) -> Score:
    """The score of a suite (every run of a schedule or a game day): the severity-weighted mean of its runs'."""
    parts = []
    for record in records:
        run = score_run(record, risk_severity)
        parts.append(ScorePart(name=record.experiment.name, severity=run.severity,
                               weight=SEVERITY_WEIGHTS[run.severity], measured=run.value, bound=None,
                               points=round(run.value / 100.0, 4), note=record.run_id))
    total = sum(p.weight for p in parts)
    value = sum(p.weight * (p.measured or 0.0) for p in parts) / total if total else 0.0
    severity = max((p.severity for p in parts), key=lambda s: SEVERITY_WEIGHTS[s], default=DEFAULT_SEVERITY)
    return Score(value=_rounded(value), parts=tuple(parts), severity=severity)


def describe(score: Score) -> str:
    """One line: "87.5 / 100 (severity high, 6 parts)"."""
    n = len(score.parts)
    return f"{score.value:.1f} / 100 (severity {score.severity}, {n} part{'s' * (n != 1)})"
