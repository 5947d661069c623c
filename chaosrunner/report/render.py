"""Render one run: report.html (Jinja2, autoescaped), junit.xml and summary.md next to run.json."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from chaosrunner.analyse.verdict import unmeasured_objectives
from chaosrunner.report import _view as v
from chaosrunner.report.charts import run_charts
from chaosrunner.report.definitions import DEFINITIONS
from chaosrunner.report.junit import junit_xml
from chaosrunner.report.summary import summary_markdown

_ENV: Environment | None = None


def environment() -> Environment:
    """The Jinja2 environment of every report page: autoescaping always on."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=PackageLoader("chaosrunner.report", "templates"), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _ENV


def _tool_version(run: dict[str, Any]) -> str:
    try:
        from chaosrunner.version import __version__
    except ImportError:
        __version__ = "?"
    return str((run.get("versions") or {}).get("chaosrunner") or __version__)


def unmeasured_text(verdicts: list[Any]) -> str:
    """``rpo (not read back), failover (no role probe)``: the objectives that could not be measured."""
    return ", ".join(f"{x.name} ({x.measured})" if x.measured else x.name for x in unmeasured_objectives(verdicts))


def _sentence(status: str, verdicts: list[Any]) -> str:
    failed = [x.name for x in verdicts if x.status.value == "failed"]
    if status == "held":
        return "Every hypothesis and objective held."
    if status == "inconclusive":
        return ("Nothing failed, but not every objective could be measured: " + unmeasured_text(verdicts)
                + ". A run that cannot measure what it declares does not pass.")
    if status == "failed":
        return "Did not hold: " + ", ".join(failed) + "." if failed else "A hypothesis did not hold."
    if status == "aborted":
        return "The run was stopped before it finished; its faults were reverted."
    if status == "revert_failed":
        return "A fault could not be reverted: the system may still be degraded and needs a human."
    return ""


def _impact(run: dict[str, Any], tl: Any) -> str:
    """The game-day summary's 'Impact' line: the worst the load saw, and what the writer lost."""
    parts = []
    stats = [s for s in tl.load_stats if s.name == "Aggregated"]
    req = sum(s.requests for s in stats)
    if req:
        worst = max(stats, key=lambda s: (s.failures / s.requests) if s.requests else 0.0)
        share = worst.failures / worst.requests if worst.requests else 0.0
        parts.append(f"{sum(s.failures for s in stats) / req:.1%} of {req} requests failed "
                     f"(worst second {share:.0%} at {v.clock(worst.t)})")
    failing = sum(1 for s in tl.samples if not s.ok)
    if tl.samples:
        parts.append(f"{failing} of {len(tl.samples)} probe samples failed")
    integ = (run.get("measurements") or {}).get("integrity") or {}
    if integ:
        parts.append(f"{integ.get('lost', 0)} acknowledged writes lost")
    return "; ".join(parts) or "not measured"


def report_context(run: dict[str, Any]) -> dict[str, Any]:
    exp = run.get("experiment") or {}
    tl = v.timeline_of(run)
    verdicts = v.verdicts_of(run)
    status = str(run.get("status") or "unknown")
    mark, word = v.STATUS_TEXT.get(status, ("?", status))
    windows = v.windows_of(run, tl)
    instants = v.instants_of(windows)
    span = v.run_span(tl, run)
    counts = v.verdict_counts(verdicts)
    sampling = run.get("sampling") or {}
    probes = run.get("probes") or []
    return {
        "status": status, "mark": mark, "word": word, "run_id": run.get("run_id", ""),
        "kind": "Game day" if exp.get("kind") == "GameDay" or run.get("gameday") else "Experiment",
        "name": exp.get("name") or "experiment", "description": exp.get("description") or "",
        "hypothesis": exp.get("hypothesis") or "", "file": exp.get("file") or "",
        "verdict_headline": f"{word.capitalize()}",
        "verdict_sentence": _sentence(status, verdicts),
        "abort_reason": run.get("abort_reason") or "",
        "revert_failures": [v.clip(x) for x in run.get("revert_failures") or []],
        "started": v.when_text(run.get("started")), "ended": v.when_text(run.get("ended")),
        "duration": v.duration_text(run.get("duration_s")),
        "environment": run.get("environment") or "",
        "sampling": (f"every {v.duration_text(sampling.get('interval'))}, stable for "
                     f"{v.duration_text(sampling.get('stable_for'))}") if sampling else "—",
        "counts_text": ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none",
        "objectives": v.objective_rows(run, verdicts),
        "windows": v.window_rows(windows),
        "integrity": v.integrity_rows(run),
        "slo": v.slo_table(run),
        "charts": run_charts(tl, probes, windows, instants, span),
        "has_load": bool(tl.load_stats),
        "deviations": v.deviations(tl),
        "problems": v.probe_errors(tl),
        "rollbacks": v.rollback_rows(tl),
        "events": v.event_rows(tl),
        "events_hidden": max(0, len(tl.events) - v.MAX_EVENT_ROWS),
        "notes": v.note_rows(run),
        "gameday": v.gameday_of(run, tl),
        "impact": _impact(run, tl) if run.get("gameday") else "",
        "targets": v.target_rows(run),
        "targets_line": v.targets_line(run),
        "versions_line": v.versions_line(run),
        "versions": [(str(k), str(x)) for k, x in (run.get("versions") or {}).items()],
        "definitions": DEFINITIONS,
        "tool_version": _tool_version(run),
    }


def report_html(run: dict[str, Any]) -> str:
    """The whole report.html for one run document."""
    return environment().get_template("report.html.j2").render(**report_context(run))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_run_outputs(run: dict[str, Any], run_dir: Path | str) -> Path:
    """Write report.html, junit.xml, summary.md (and summary.json for the index) into ``run_dir``.

    ``run`` is the run document as written to run.json (secrets already redacted). Returns the
    path of report.html.
    """
    from chaosrunner.report.index import index_entry

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / "report.html"
    _write(report, report_html(run))
    _write(run_dir / "junit.xml", junit_xml(run))
    _write(run_dir / "summary.md", summary_markdown(run))
    _write(run_dir / "summary.json", json.dumps(index_entry(run), indent=1, allow_nan=False))
    return report


def read_run(run_dir: Path | str) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def render_run(run_dir: Path | str) -> Path:
    """Rebuild report.html, junit.xml and summary.md from ``run_dir/run.json``; returns report.html."""
    return write_run_outputs(read_run(run_dir), run_dir)
