"""What the report, summary and index show of the measurements: statuses, windows, integrity, trends."""
from __future__ import annotations

import re
from html import unescape

from report_runs import build_run, write_run

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.report import _view as v
from chaosrunner.report import render_index, render_run, report_html, summary_markdown
from chaosrunner.report.definitions import DEFINITIONS, RECOVERY_AFTER_FAILURE, RPO_WITHOUT_SURVIVOR
from chaosrunner.report.entry import index_entry
from chaosrunner.results import read_run_record
from chaosrunner.results.record import PlanInfo, WindowMeasurement


def inconclusive_run():
    run = build_run(status="held", rto=3.0, rpo=None)
    run.status, run.exit_code = RunStatus.INCONCLUSIVE, RunStatus.INCONCLUSIVE.exit_code
    run.verdicts = [Verdict("steady state before", Status.PASSED, "every probe ok", "all ok"),
                    Verdict("rpo", Status.UNKNOWN, "≤ 0s", "not read back", "1200 write(s) were not read back",
                            kind="objective"),
                    Verdict("failover", Status.UNKNOWN, "≤ 30s", "no role probe", kind="objective")]
    return run


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_an_inconclusive_run_names_what_could_not_be_measured():
    run = inconclusive_run()
    html = report_html(run)
    assert "Every hypothesis and objective held" not in html
    assert 'class="verdict inconclusive"' in html
    assert "not every objective could be measured: rpo (not read back), failover (no role probe)" in html
    md = summary_markdown(run)
    assert md.startswith("## ? database-failure: inconclusive")
    assert "**Could not be measured (the run is inconclusive, exit code 1):** rpo: not read back" in md


def test_the_index_filters_by_the_inconclusive_verdict(tmp_path):
    write_run(tmp_path, inconclusive_run())
    write_run(tmp_path, build_run(status="held", rto=3.0, started=1_795_100_000.0))
    html = render_index(tmp_path).read_text()
    assert '<option value="inconclusive">inconclusive</option>' in html
    assert 'data-status="inconclusive" class="bad"' in html


def test_a_run_that_never_recovered_shows_in_the_trend_as_unbounded(tmp_path):
    for i, (rto, recovered) in enumerate([(3.0, True), (4.0, True), (None, False)]):
        run = build_run(started=1_790_000_000.0 + 86400 * 30 * i, status="held" if recovered else "failed", rto=3.0)
        # window 1 recovered in 2 s; window 2 (the last run only) never recovered
        windows = run.measurements.windows
        second = windows[0].model_copy(update={"window": 1, "t0": 45.0, "reverted_at": 50.0, "recovery_time": rto,
                                               "recovered": recovered})
        windows[0].recovery_time = 2.0
        windows.append(second)
        write_run(tmp_path, run)
    entries = sorted((index_entry(read_run_record(p)) for p in tmp_path.glob("*/run.json")),
                     key=lambda e: e.started or "")
    assert [e.rto for e in entries] == [3.0, 4.0, None]       # unbounded, not the largest finite (2 s)
    assert [e.recovered for e in entries] == [True, True, False]
    html = render_index(tmp_path).read_text()
    assert re.search(r'<td class="num bad">✗ not recovered</td>', html)
    trend = re.search(r'<figure id="exp-0">(.*?)</figure>', html, flags=re.S).group(1)
    assert "not recovered" in trend
    assert "worst per-second p99 latency during the faults" not in html
    assert "estimated from the per-second percentiles" in html


def test_fault_window_table_shows_out_of_slo_flapping_relapses_and_failback():
    run = build_run()
    w = run.measurements.windows[0]
    w.out_of_slo, w.deviations, w.relapses = 9.25, 3, 1
    assert w.failover_result is not None
    w.failover_result.failback_time, w.failover_result.failover_at = 4.0, 26.0
    (row,) = v.window_rows(v.windows_of(run, run.to_timeline()))
    assert row["out_of_slo"] == "9.25s" and row["deviations"] == "3 (flapping)" and row["relapses"] == "1"
    assert row["failback"] == "4s ±250ms" and row["failover"] == "6s ±250ms" and row["bad"]
    page = text_of(report_html(run))
    for header in ("Out of SLO", "Deviations", "Relapses", "Failback"):
        assert header in page
    assert "3 (flapping)" in page
    assert "| 9.25s | 3 (flapping) | 1 | 6s ±250ms | 4s ±250ms |" in summary_markdown(run)


def test_a_window_that_needed_no_failover_says_so():
    run = build_run()
    w = run.measurements.windows[0]
    w.failover, w.detection_time, w.detected, w.recovery_time = None, None, False, 0.0
    assert w.failover_result is not None
    w.failover_result.failed_over, w.failover_result.deviated, w.failover_result.failover_at = False, False, None
    (row,) = v.window_rows(v.windows_of(run, run.to_timeline()))
    assert row["failover"] == "not needed" and row["detection"] == "no deviation" and row["failback"] == "—"


def test_integrity_table_is_formatted_with_precision_and_real_keys():
    run = build_run()
    rows = dict(v.integrity_rows(run))
    assert rows["RPO measured"] == "150ms ± 50ms"
    assert rows["not acknowledged but present"] == "2"        # the analysis writes unacknowledged_present
    assert rows["RPO measured from"] == "T+0:00:19.86"
    assert rows["resolution (one write interval)"] == "50ms"
    assert "note" not in rows                                   # empty: hidden
    for value in rows.values():
        assert not re.search(r"\d\.\d{4,}", value), value         # no raw floats
    assert run.measurements.integrity is not None
    run.measurements.integrity.note = "no acknowledged write survived before the loss"
    assert dict(v.integrity_rows(run))["note"].startswith("no acknowledged write survived")


def test_no_recovery_line_for_a_window_that_never_deviated():
    windows = [WindowMeasurement(window=0, t0=10.0, detection_time=None, detected=False, recovery_time=0.0,
                                 recovered=True),
               WindowMeasurement(window=1, t0=30.0, detection_time=1.0, detected=True, recovery_time=4.0,
                                 recovered=True)]
    assert v.instants_of(windows) == [("detection", 31.0, 1), ("recovery", 34.0, 1)]


def test_header_names_targets_drivers_and_versions():
    run = build_run()
    run.plan = PlanInfo(drivers=["toxiproxy"])
    page = text_of(report_html(run))
    assert "postgres-primary (toxiproxy), api (url) · drivers: toxiproxy" in page
    assert "chaosrunner 0.1.0 · Python 3.11.7" in page
    assert "Targets and versions" in page                      # the detailed section stays


def test_definitions_state_both_edge_case_rules(tmp_path):
    text = dict(DEFINITIONS)
    assert RECOVERY_AFTER_FAILURE in text["Recovery time (RTO measured)"]
    assert "recovered at 20 s, not at 0 s" in RECOVERY_AFTER_FAILURE
    assert RPO_WITHOUT_SURVIVOR in text["RPO"] and "sending time" in RPO_WITHOUT_SURVIVOR
    html = render_run(write_run(tmp_path, build_run())).read_text()
    assert "recovered at 20 s, not at 0 s" in html and "sending time stands in" in html
