"""report.html and summary.md from run documents: content, escaping, tolerance of missing parts."""
from __future__ import annotations

import json
import math
import re

from report_runs import PAYLOAD, build_run, write_run

from chaosrunner.analyse.status import RunStatus
from chaosrunner.report import render_run, report_html, summary_markdown, write_run_outputs
from chaosrunner.report.definitions import DEFINITIONS
from chaosrunner.results import RunRecord
from chaosrunner.results.record import ExperimentInfo, Measurements

ESCAPED = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"


def test_render_run_writes_report_junit_and_summary(tmp_path):
    d = write_run(tmp_path, build_run())
    report = render_run(d)
    assert report == d / "report.html"
    for name in ("report.html", "junit.xml", "summary.md", "summary.json"):
        assert (d / name).stat().st_size > 0
    assert not list(d.glob("*.tmp"))


def test_report_shows_verdict_hypothesis_objectives_and_measurements():
    html = report_html(build_run())
    assert "<title>✗ database-failure — failed" in html
    assert "System should failover to standby within 30 seconds" in html
    assert "✗ failed" in html and "✓ passed" in html and "– skipped" in html and "? unknown" in html
    assert "8.5s ± 0.25s" in html and "±250ms" in html            # measured RTO with its precision
    assert "Fault windows" in html and "postgres-primary" in html
    assert "T+0:00:20.00" in html                                 # t0 of the window, run clock
    assert "Data integrity" in html and "150ms" in html            # RPO measured
    assert "SLO windows" in html and "900 ms" in html and "15.00%" in html
    assert "2026-11-18 11:06:40 UTC" in html and "1m00s" in html
    assert "python" in html and "3.11.7" in html                  # versions
    assert '"password": "***"' not in html and "password: ***" in html   # redacted handle shown as is
    for term, _ in DEFINITIONS:
        assert term in html


def test_charts_are_inline_svg_made_by_matplotlib_with_fault_windows_and_instants():
    html = report_html(build_run())
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == 4                                          # latency, throughput, health, writes
    for svg in svgs:
        assert 'id="figure_1"' in svg and "fault 1: postgres-primary" in svg   # matplotlib SVG backend
        assert "<title>" in svg and 'viewBox="' in svg
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    for label in ("p50", "p95", "p99", "requests/s", "error rate", "api-health", "db-role",
                  "detected", "recovered", "failed over", "lost (3)", "acknowledged (1081)"):
        assert label in html


def test_report_is_self_contained_with_no_url_and_no_script():
    html = report_html(build_run(gameday=True))
    assert "<script" not in html
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:|//)""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert "@import" not in html and "<link" not in html and "<img" not in html
    assert "script-src 'none'" in html and "default-src 'none'" in html
    assert "@media print" in html


def test_everything_a_target_returns_is_escaped():
    run = build_run(xss=True, status="aborted", gameday=True)
    html = report_html(run)
    assert PAYLOAD not in html and "<script" not in html
    assert ESCAPED in html                                           # errors, notes, verdict detail, targets
    assert html.count(ESCAPED) >= 5
    md = summary_markdown(run)
    assert "<script" not in md and "&lt;script&gt;" in md


def test_deviations_are_grouped_and_counted_and_rollbacks_listed():
    html = report_html(build_run())
    m = re.search(r"<td>api-health</td><td class=\"num\">(\d+)</td>", html)
    assert m and int(m.group(1)) == 30                            # 21.0 .. 28.25 every 250 ms
    assert "connection refused" in html
    assert "✓ done" in html and "rollback restore network" in html
    assert "revert network on postgres-primary (by revert)" in html


def test_game_day_follows_the_post_incident_template():
    html = report_html(build_run(gameday=True))
    for heading in ("Game day review", "Summary", "Timeline", "Expected vs measured", "Success criteria",
                    "Notes", "Action items", "Phase: inject"):
        assert heading in html
    assert "Impact" in html and "requests failed" in html
    assert "s out of SLO (a steady-state probe failing)" in html and "probe samples failed" not in html
    assert "[ ]</span> Use synchronous replication for configs" in html
    assert "Update runbook" in html and "sre" in html
    assert "commander" in html and "bob, carol" in html
    assert "failover detected" in html and "6s" in html
    assert "note (alice): alerts fired" in html


def test_a_minimal_or_partial_record_still_renders(tmp_path):
    minimal = RunRecord(run_id="r1", experiment=ExperimentInfo(name="x"), status=RunStatus.HELD)
    html = report_html(minimal)
    assert "✓</span> Held" in html and "No fault was injected" in html and "Nothing was sampled" in html
    partial = build_run(load=False, writes=False, fault=None)
    partial.measurements = Measurements()
    html = report_html(partial)
    assert "no load generator" in html
    assert len(re.findall(r"<svg\b", html)) == 1                  # only the health bands
    out = write_run_outputs(minimal, tmp_path / "r1")
    assert out.exists() and "x: held" in (tmp_path / "r1" / "summary.md").read_text()


def test_in_memory_record_with_unbounded_recovery(tmp_path):
    run = build_run()
    run.measurements.windows[0].recovery_time = math.inf
    run.measurements.windows[0].recovered = False
    write_run_outputs(run, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "not recovered" in html
    entry = json.loads((tmp_path / "summary.json").read_text())
    assert entry["rto"] is None and entry["recovered"] is False


def test_summary_markdown_fits_a_ci_job_summary():
    md = summary_markdown(build_run(status="aborted"))
    assert md.startswith("## ! database-failure: aborted")
    assert "**Aborted:** error rate above 50%" in md
    assert "| ✗ failed | rto | ≤ 5s | 8.5s ± 0.25s | ±250ms |" in md
    assert "30 × **api-health**: connection refused" in md
    assert "report.html" in md


def test_an_hour_long_run_is_downsampled(tmp_path):
    run = build_run(duration=1800.0, probes=("a", "b", "c", "d"), writes=False)
    html = report_html(run)
    assert len(html) < 1_500_000
    for poly in re.findall(r'<path d="([^"]*)"', html):
        assert poly.count("L") <= 1000
