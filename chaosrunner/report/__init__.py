"""Reports of runs: a self-contained report.html, junit.xml and summary.md per run, and an index.

Every renderer takes the typed run record (``chaosrunner.results.RunRecord``), never a dict:

    from chaosrunner.report import render_run, write_run_outputs, render_index

    write_run_outputs(record, run_dir)         # at the end of a run, from the in-memory record
    render_run(run_dir)                        # rebuild from run_dir/run.json (v1 files are migrated)
    render_index(reports_dir)                  # reports_dir/index.html with trends per experiment
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

# imported on first use: the renderers bring Jinja2 and matplotlib (half a second), which the
# command line must not pay for every command (it mounts `report` among its subcommands)
_HOMES = {"render_index": "index", "junit_xml": "junit", "render_run": "render", "report_html": "render",
          "write_run_outputs": "render", "summary_markdown": "summary"}

__all__ = ["junit_xml", "render_index", "render_run", "report_html", "summary_markdown", "write_run_outputs"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"chaosrunner.report.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'chaosrunner.report' has no attribute {name!r}")
