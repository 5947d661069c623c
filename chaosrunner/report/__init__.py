"""Reports of runs: a self-contained report.html, junit.xml and summary.md per run, and an index.

Every renderer takes the typed run record (``chaosrunner.results.RunRecord``), never a dict:

    from chaosrunner.report import render_run, write_run_outputs, render_index

    write_run_outputs(record, run_dir)         # at the end of a run, from the in-memory record
    render_run(run_dir)                        # rebuild from run_dir/run.json (v1 files are migrated)
    render_index(reports_dir)                  # reports_dir/index.html with trends per experiment
"""
from __future__ import annotations

from chaosrunner.report.index import render_index
from chaosrunner.report.junit import junit_xml
from chaosrunner.report.render import render_run, report_html, write_run_outputs
from chaosrunner.report.summary import summary_markdown

__all__ = ["junit_xml", "render_index", "render_run", "report_html", "summary_markdown", "write_run_outputs"]
