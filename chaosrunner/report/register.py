"""The index's risk-register view: the severity × probability heat map, each risk's coverage, the
seed's risk score, and the resilience score of every run (for the trend per experiment).

The heat map follows the seed's §2 matrix (and its §6.3 "Risk Heat Map" panel): severity (§2.1)
down the side, worst on top; probability (§2.2) across, likeliest on the right. Each cell lists
its risks, each coloured by its verification state (``risks.coverage``: verified and held /
failed / stale / never); the cell's own tint is the risk level severity × probability.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from chaosrunner.risks.coverage import STATE_TEXT, RiskCoverage, State, coverage
from chaosrunner.model.risks import PROBABILITY_LEVELS, SEVERITY_LEVELS, Probability, RiskRegister, Severity
from chaosrunner.risks.riskscore import risk_score
from chaosrunner.risks.sources import Sources

STATE_MARK = {State.HELD: "✓", State.FAILED: "✗", State.STALE: "!", State.NEVER: "?"}


def _level(severity: Severity, probability: Probability) -> str:
    """The cell's risk level, from the ranks on both scales (critical × very high = extreme)."""
    points = (4 - severity.rank) * (5 - list(Probability).index(probability))   # 1 … 20
    return "extreme" if points >= 12 else "high" if points >= 6 else "moderate" if points >= 3 else "low"


def register_view(path: Path, register: RiskRegister, sources: Sources, now: datetime) -> dict[str, Any]:
    """Everything the index's register section shows (plain values for the template)."""
    rows = coverage(register, sources.declared, sources.runs, now)
    by_cell: dict[tuple[Severity, Probability], list[RiskCoverage]] = {}
    for c in rows:
        by_cell.setdefault((c.risk.severity, c.risk.probability), []).append(c)
    probabilities = list(reversed(list(Probability)))              # very low … very high, left to right
    heat = [{"label": SEVERITY_LEVELS[s].label, "words": SEVERITY_LEVELS[s].words, "severity": s.value,
             "cells": [{"probability": p.value, "level": _level(s, p),
                        "risks": [_chip(c) for c in by_cell.get((s, p), [])]} for p in probabilities]}
            for s in Severity]
    score = risk_score(sources.latest.values())
    counts = {st.value: sum(1 for c in rows if c.state is st) for st in State}
    return {
        "file": str(path), "name": register.name or path.name, "count": len(rows), "counts": counts,
        "probabilities": [{"label": PROBABILITY_LEVELS[p].label, "words": PROBABILITY_LEVELS[p].words,
                           "value": p.value} for p in probabilities],
        "heat": heat,
        "states": [{"value": st.value, "text": STATE_TEXT[st], "mark": STATE_MARK[st]} for st in State],
        "risks": [_row(c, now) for c in rows],
        "uncovered": [c.risk.id for c in rows if c.uncovered],
        "score": {"value": None if score.value is None else f"{score.value:.2f}", "formula": score.formula,
                  "components": [{"name": c.name, "risk": None if c.risk is None else f"{c.risk:.1f}",
                                  "figure": c.figure} for c in score.components]},
    }


def _chip(c: RiskCoverage) -> dict[str, Any]:
    return {"id": c.risk.id, "title": c.risk.title, "state": c.state.value, "mark": STATE_MARK[c.state],
            "text": STATE_TEXT[c.state]}


def _row(c: RiskCoverage, now: datetime) -> dict[str, Any]:
    r = c.risk
    covers = []
    for v in c.covers:
        last = v.last
        covers.append({"experiment": v.experiment, "game_day": v.kind == "GameDay",
                       "run": last.run_id if last else None, "dir": last.run_dir if last else None,
                       "status": last.status.value if last else None,
                       "when": f"{last.started:%Y-%m-%d %H:%M} UTC" if last and last.started else None})
    return {"id": r.id, "title": r.title, "category": r.category, "owner": r.owner or "—",
            "severity": SEVERITY_LEVELS[r.severity].label, "probability": PROBABILITY_LEVELS[r.probability].label,
            "review": c.review, "state": c.state.value, "mark": STATE_MARK[c.state], "state_text": STATE_TEXT[c.state],
            "reasons": "; ".join(c.reasons),
            "since": f"{c.days_since:.1f}" if c.days_since is not None else "—", "covers": covers,
            "mitigations": r.mitigation_lines()}
