"""Coverage states (held, failed, stale, never; uncovered) and the seed's §15.2 risk score: pure functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaosrunner.analyse.status import RunStatus
from chaosrunner.results.record import ExperimentInfo, Measurements, RunRecord, SloWindow, WindowMeasurement
from chaosrunner.risks.coverage import Declaration, RunFact, State, coverage
from chaosrunner.model.risks import RiskRegister
from chaosrunner.risks.riskscore import availability_risk, performance_risk, risk_score

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def register() -> RiskRegister:
    risk = {"title": "t", "category": "c", "severity": "high", "probability": "medium"}
    return RiskRegister.model_validate({"kind": "RiskRegister", "review": "monthly", "risks": [
        {"id": "R-HELD", **risk}, {"id": "R-FAILED", **risk}, {"id": "R-STALE", **risk},
        {"id": "R-WEEKLY", **risk, "review": "weekly"}, {"id": "R-NEVER", **risk}, {"id": "R-NONE", **risk},
        {"id": "R-RECORDED", **risk}]})


def run(name: str, days_ago: float, status: str = "held", risks: tuple[str, ...] = ()) -> RunFact:
    return RunFact(f"{name}-{days_ago}", name, NOW - timedelta(days=days_ago), RunStatus(status), risks)


def test_states_from_the_last_run_of_each_covering_experiment():
    declared = [Declaration("a", "Experiment", "a.yaml", ("R-HELD", "R-FAILED", "R-WEEKLY")),
                Declaration("b", "Experiment", "b.yaml", ("R-FAILED",)),
                Declaration("c", "GameDay", "c.yaml", ("R-STALE",)),
                Declaration("never-run", "Experiment", "n.yaml", ("R-NEVER",))]
    runs = [run("a", 10), run("a", 2), run("b", 1, "held"), run("b", 0.5, "failed"),
            run("c", 40), run("other", 3, risks=("R-RECORDED",))]
    got = {c.risk.id: c for c in coverage(register(), declared, runs, NOW)}
    assert got["R-HELD"].state is State.HELD and round(got["R-HELD"].days_since, 3) == 2.0
    assert got["R-HELD"].covers[0].last.run_id == "a-2"
    # one covering experiment's last run failed: failed, even though another held
    assert got["R-FAILED"].state is State.FAILED and "b failed" in got["R-FAILED"].reasons[0]
    assert got["R-FAILED"].last_verified == NOW - timedelta(days=1)              # b's held run was newer than a's
    # held, but 40 days ago: stale against a monthly review; 2 days is fine monthly, and weekly
    assert got["R-STALE"].state is State.STALE and got["R-STALE"].review_days == 31
    assert got["R-WEEKLY"].state is State.HELD and got["R-WEEKLY"].review_days == 7
    assert got["R-NEVER"].state is State.NEVER and not got["R-NEVER"].uncovered
    assert got["R-NONE"].state is State.NEVER and got["R-NONE"].uncovered
    # a run whose record names a risk covers it, though no file declares it now
    assert got["R-RECORDED"].state is State.HELD and got["R-RECORDED"].covers[0].experiment == "other"
    # and the weekly one goes stale after 7 days
    later = {c.risk.id: c for c in coverage(register(), declared, runs, NOW + timedelta(days=6))}
    assert later["R-WEEKLY"].state is State.STALE and later["R-HELD"].state is State.HELD


def test_aborted_counts_as_not_held_and_order_is_the_registers():
    declared = [Declaration("a", "Experiment", None, ("R-HELD",))]
    got = coverage(register(), declared, [run("a", 5), run("a", 1, "aborted")], NOW)
    assert [c.risk.id for c in got] == ["R-HELD", "R-FAILED", "R-STALE", "R-WEEKLY", "R-NEVER", "R-NONE",
                                         "R-RECORDED"]
    assert got[0].state is State.FAILED and round(got[0].days_since) == 5


def test_the_seeds_availability_scale_and_the_performance_scale():
    assert [availability_risk(u) for u in (100, 99.99, 99.95, 99.5, 97, 90)] == [0.1, 0.1, 0.3, 0.6, 0.8, 1.0]
    assert [performance_risk(r) for r in (0.2, 0.5, 0.7, 1.0, 1.2, 3)] == [0.1, 0.1, 0.3, 0.6, 0.8, 1.0]


def record(name: str, duration: float, out_of_slo: float, p99: float | None = None, threshold: str | None = None,
           tags: list[str] | None = None) -> RunRecord:
    raw = {"name": name, "tags": tags or []}
    objectives = {"slo": {"p99": threshold}} if threshold else {}
    return RunRecord(run_id=f"run-{name}", status=RunStatus.HELD, duration_s=duration,
                     experiment=ExperimentInfo(name=name, raw=raw, objectives=objectives),
                     measurements=Measurements(
                         windows=[WindowMeasurement(window=0, t0=1.0, out_of_slo=out_of_slo)],
                         slo={"fault": SloWindow(p99=p99)} if p99 is not None else None))


def test_the_risk_score_from_measured_figures():
    latest = [record("db", 100.0, 0.5), record("latency", 100.0, 0.0, p99=600.0, threshold="1s"),
              record("cascade", 200.0, 2.0, tags=["dependency"])]
    score = risk_score(latest)
    parts = {c.name: c for c in score.components}
    # availability: 2.5s out of SLO in 400s → 99.375% → 0.6
    assert parts["availability"].risk == 0.6 and "99.38%" in parts["availability"].figure
    # performance: 600 ms / 1 s = 0.6 → 0.3
    assert parts["performance"].risk == 0.3 and "0.60×" in parts["performance"].figure
    # dependency: the experiment tagged dependency, 2s out of 200s → 99% → 0.6
    assert parts["dependency"].risk == 0.6 and parts["dependency"].runs == ("run-cascade",)
    assert parts["security"].risk is None and parts["capacity"].risk is None
    assert score.value == round((0.6 + 0.3 + 0.6) / 3, 3)
    assert "Σ wᵢ·rᵢ / Σ wᵢ" in score.formula
    assert risk_score([]).value is None
