"""reports/index.html and the `report` commands."""
from __future__ import annotations

import base64
import hashlib
import json
import re

from report_runs import PAYLOAD, build_run, write_run
from run_records import not_a_record
from typer.testing import CliRunner

from chaosrunner.report import render_index, render_run
from chaosrunner.report.cli import app

DAY = 86400.0


def _history(tmp_path):
    """Three monthly runs of one experiment (getting worse), and one of another."""
    dirs = []
    for i, (rto, status) in enumerate([(3.0, "held"), (4.5, "held"), (9.0, "failed")]):
        run = build_run(started=1_790_000_000.0 + 30 * DAY * i, rto=rto, status=status, p99_fault=400.0 + 200 * i)
        dirs.append(write_run(tmp_path, run))
    dirs.append(write_run(tmp_path, build_run(name="latency-" + PAYLOAD, status="held", started=1_790_000_000.0 + DAY,
                                  writes=False), name="latency-run"))
    for d in dirs[:3]:
        render_run(d)                    # the last one has no report yet: the index reads its run.json
    return dirs


def test_index_lists_runs_newest_first_with_trends(tmp_path):
    dirs = _history(tmp_path)
    html = render_index(tmp_path).read_text()
    rows = re.findall(r'<tr data-experiment="([^"]*)" data-status="(\w+)"', html)
    assert [s for _, s in rows] == ["failed", "held", "held", "held"]
    assert rows[0][0] == "database-failure"
    assert f'href="{dirs[2].name}/report.html"' in html
    assert "(no report)" in html                                  # the run rendered without a report
    assert "9s" in html and "4.5s" in html and "800 ms" in html   # RTO and p99 columns
    trends = re.findall(r'<figure id="exp-\d+"><svg\b', html)
    assert len(trends) == 2 and "trend over 3 runs" in html
    for label in ("RTO measured (s)", "RPO measured (s)", "p99 in fault window (ms)"):
        assert label in html


def test_index_filters_work_without_script_and_the_script_is_pinned_by_csp(tmp_path):
    _history(tmp_path)
    html = render_index(tmp_path).read_text()
    assert '<form id="filters" class="filters" hidden' in html      # without script: all rows, no filter UI
    assert PAYLOAD not in html and "&lt;script&gt;" in html
    script = re.search(r"<script>(.*?)</script>", html, flags=re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    assert len(re.findall(r"<script", html)) == 1


def test_index_uses_the_cached_summary_and_skips_unreadable_runs(tmp_path):
    d = write_run(tmp_path, build_run())
    render_run(d)
    entry = json.loads((d / "summary.json").read_text())
    assert entry["rto"] == 8.5 and entry["rpo"] == 0.15 and entry["p99"] == 900.0
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    not_a_record(tmp_path / "broken", "the index must skip an unreadable run.json")
    html = render_index(tmp_path).read_text()
    assert html.count("<tr data-experiment") == 1


def test_report_commands(tmp_path):
    d = write_run(tmp_path, build_run())
    runner = CliRunner()
    r = runner.invoke(app, ["render", str(d)])
    assert r.exit_code == 0 and r.output.strip().endswith("report.html") and (d / "junit.xml").exists()
    r = runner.invoke(app, ["index", str(tmp_path)])
    assert r.exit_code == 0 and (tmp_path / "index.html").exists()
    r = runner.invoke(app, ["render", str(tmp_path / "nothing")])
    assert r.exit_code == 2
