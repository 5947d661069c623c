"""The resilience score (``chaosrunner.analyse.score``): the formula part by part, determinism, the suite."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosrunner.analyse.score import (
    SEVERITY_WEIGHTS,
    bound_of,
    objective_of,
    points_of,
    score_run,
    score_suite,
    score_verdicts,
)
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.results import read_run_record
from chaosrunner.results.record import DeclaredObjectives

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_runs import build_run, write_run  # noqa: E402

OBJ = DeclaredObjectives.model_validate({"rto": 30.0, "rpo": 0.0, "failover": {"within": 30.0},
                                         "slo": {"p99": "500ms", "error_rate": "1%", "rps_min": 50}})


def objective(name: str, status: Status, value: float | None, kind: str = "objective", **data: str) -> Verdict:
    return Verdict(name, status, "", "", value=value, kind=kind, data=dict(data))


def test_points_scale_with_the_margin_inside_the_bound() -> None:
    fast = objective("failover", Status.PASSED, 2.5)
    slow = objective("failover", Status.PASSED, 29.0)
    late = objective("failover", Status.FAILED, 31.0)
    bound, direction = bound_of(fast, OBJ)
    assert (bound, direction) == (30.0, "upper")
    assert points_of(fast, bound, direction)[0] == pytest.approx(0.5 + 0.5 * (1 - 2.5 / 30))
    assert points_of(slow, bound, direction)[0] == pytest.approx(0.5 + 0.5 * (1 - 29 / 30))
    assert points_of(late, bound, direction)[0] == 0.0


def test_slo_bounds_are_read_from_the_declared_thresholds() -> None:
    p99 = objective("slo p99 (fault)", Status.PASSED, 0.125, kind="slo", metric="p99", window="fault")
    err = objective("slo error_rate (fault)", Status.PASSED, 0.005, kind="slo", metric="error_rate", window="fault")
    rps = objective("slo rps (fault)", Status.PASSED, 100.0, kind="slo", metric="rps", window="fault")
    assert bound_of(p99, OBJ) == (0.5, "upper")
    assert bound_of(err, OBJ) == (0.01, "upper")
    assert bound_of(rps, OBJ) == (50.0, "lower")
    assert points_of(p99, 0.5, "upper")[0] == pytest.approx(0.875)
    assert points_of(rps, 50.0, "lower")[0] == pytest.approx(0.75)


def test_zero_bound_met_exactly_scores_full_and_a_game_day_timing_reads_its_expected_text() -> None:
    rpo = objective("rpo", Status.PASSED, 0.0)
    assert points_of(rpo, *bound_of(rpo, OBJ))[0] == 1.0
    timing = Verdict("expected failover", Status.PASSED, "≤ 1m from initiate failure until primary changed",
                     "12s ± 250ms", value=12.0, kind="objective")
    assert bound_of(timing, DeclaredObjectives()) == (60.0, "upper")
    assert points_of(timing, 60.0, "upper")[0] == pytest.approx(0.9)


def test_unmeasured_counts_as_failed_and_skipped_is_no_part() -> None:
    verdicts = [objective("rto", Status.PASSED, 0.0), objective("rpo", Status.UNKNOWN, None),
                objective("failover", Status.SKIPPED, None)]
    score = score_verdicts(verdicts, OBJ)
    assert [p.name for p in score.parts] == ["rto", "rpo"]
    assert score.value == 50.0
    assert score_verdicts(verdicts, OBJ, count_skipped=True).value == pytest.approx(33.3)


def test_an_objective_counts_once_however_many_windows_judged_it() -> None:
    verdicts = [objective("rto (fault window 1)", Status.FAILED, 40.0),
                objective("rto (fault window 2)", Status.FAILED, 40.0),
                objective("rto (fault window 3)", Status.FAILED, 40.0),
                Verdict("steady state after", Status.PASSED, "", "")]
    assert objective_of("rto (fault window 3)") == "rto" and objective_of("slo p99 (fault)") == "slo p99"
    score = score_verdicts(verdicts, OBJ, severity="high")
    assert [p.weight for p in score.parts] == pytest.approx([4 / 3, 4 / 3, 4 / 3, 4])
    assert score.value == 50.0


def test_a_run_scores_from_its_run_json_the_same_every_time(tmp_path: Path) -> None:
    record = build_run(rto=3.0, rpo=0.0, status="held", writes=False)
    first = write_run(tmp_path, record, "a")
    again = read_run_record(first)
    twice = read_run_record(first)
    assert score_run(again) == score_run(twice) == score_run(record)
    copy = tmp_path / "b"
    copy.mkdir()
    (copy / "run.json").write_text(json.dumps(json.loads((first / "run.json").read_text())), encoding="utf-8")
    assert score_run(read_run_record(copy)).value == score_run(record).value
    assert 0.0 < score_run(record).value <= 100.0


def test_severity_comes_from_the_file_else_the_risks_else_medium() -> None:
    record = build_run(status="held", writes=False)
    assert score_run(record).severity == "medium"
    register = {"INFRA-001": "critical", "APP-003": "medium"}
    with_risks = record.model_copy(update={"risks": ["APP-003", "INFRA-001"]}) if "risks" in type(
        record).model_fields else _with_risks(record, ["APP-003", "INFRA-001"])
    assert score_run(with_risks, register.get).severity == "critical"
    own = record.model_copy(update={"experiment": record.experiment.model_copy(update={"severity": "low"})})
    assert score_run(own, register.get).severity == "low"
    assert score_run(own).value == score_run(record).value        # a run's own score does not depend on it


def _with_risks(record, risks: list[str]):  # type: ignore[no-untyped-def]
    """Before the record carries ``risks``: the score reads it with getattr (what the risk register adds)."""
    class WithRisks:
        def __init__(self) -> None:
            self.experiment, self.verdicts, self.status = record.experiment, record.verdicts, record.status
            self.run_id, self.risks = record.run_id, risks
    return WithRisks()


def test_the_suite_is_the_severity_weighted_mean_of_its_runs() -> None:
    good = build_run(rto=1.0, rpo=0.0, status="held", name="a", writes=False)
    bad = build_run(rto=9.0, rpo=1.0, status="failed", name="b", writes=False)
    bad = bad.model_copy(update={"experiment": bad.experiment.model_copy(update={"severity": "critical"})})
    suite = score_suite([good, bad])
    a, b = score_run(good).value, score_run(bad).value
    assert suite.value == pytest.approx(round((2 * a + 8 * b) / 10, 1))
    assert [p.weight for p in suite.parts] == [2, 8] and suite.severity == "critical"


def test_an_aborted_run_counts_what_it_never_judged_as_zero() -> None:
    record = build_run(rto=1.0, rpo=0.0, status="held", writes=False)
    aborted = record.model_copy(update={"status": RunStatus.ABORTED, "exit_code": RunStatus.ABORTED.exit_code})
    assert score_run(aborted).value < score_run(record).value


statuses = st.sampled_from([Status.PASSED, Status.FAILED, Status.UNKNOWN, Status.SKIPPED])
values = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["rto", "rpo", "failover", "no split brain", "steady state after"]),
                          statuses, values), max_size=12),
       st.sampled_from(list(SEVERITY_WEIGHTS)))
def test_any_verdicts_score_between_0_and_100_and_only_passes_score(items, severity) -> None:  # type: ignore[no-untyped-def]
    verdicts = [objective(n, s, v) for n, s, v in items]
    score = score_verdicts(verdicts, OBJ, severity)
    assert 0.0 <= score.value <= 100.0
    assert score == score_verdicts(list(verdicts), OBJ, severity)
    for part, v in zip(score.parts, [v for v in verdicts if v.status is not Status.SKIPPED], strict=True):
        assert (part.points > 0) == (v.status is Status.PASSED)
        assert part.points >= 0.5 or v.status is not Status.PASSED


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.001, max_value=1e4), st.floats(min_value=0, max_value=1e4),
       st.floats(min_value=0, max_value=1e4))
def test_closer_to_the_bound_never_scores_more(bound, a, b) -> None:  # type: ignore[no-untyped-def]
    lo, hi = sorted((a, b))
    pa = points_of(objective("rto", Status.PASSED, lo), bound, "upper")[0]
    pb = points_of(objective("rto", Status.PASSED, hi), bound, "upper")[0]
    assert pa >= pb


def test_the_report_header_and_the_history_row_carry_the_score(tmp_path: Path) -> None:
    from chaosrunner.report.render import report_html
    from chaosrunner.results.history import history_row

    record = build_run(rto=3.0, rpo=0.0, status="held", writes=False)
    value = score_run(record).value
    html = report_html(record)
    header = html.split("</header>")[0]
    assert "Resilience score" in header and f"<strong>{value:.1f}</strong> / 100" in header
    assert "Resilience score" in html.split('id="definitions"')[1]          # the formula, in the definitions
    row = history_row(record)
    assert row.score == value and row.resolution == record.sampling.interval


def test_a_history_from_before_the_score_keeps_its_rows_and_gains_the_columns(tmp_path: Path) -> None:
    import sqlite3

    from chaosrunner.results.history import COLUMNS, History, history_row

    record = build_run(status="held", writes=False)
    with History.open(tmp_path) as history:
        history.add(history_row(record))
    conn = sqlite3.connect(tmp_path / "history.sqlite")
    for column in ("score", "resolution", "rpo_resolution"):       # as an older version wrote it
        conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    conn.commit()
    conn.close()
    with History.open(tmp_path) as history:
        [row] = history.rows()
        assert row.run_id == record.run_id and row.score is None
        assert set(COLUMNS) <= {r[1] for r in history.conn.execute("PRAGMA table_info(runs)")}
        history.add(history_row(record))
        assert history.rows()[0].score == score_run(record).value
    assert not list(tmp_path.glob("history.sqlite.corrupt-*"))
