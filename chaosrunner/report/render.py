"""Render one run: report.html (Jinja2, autoescaped), junit.xml and summary.md next to run.json."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict, unmeasured_objectives
from chaosrunner.report import _view as v
from chaosrunner.report._gameday import gameday_of
from chaosrunner.report.charts import run_charts
from chaosrunner.analyse.score import score_run
from chaosrunner.report.definitions import DEFINITIONS
from chaosrunner.report.entry import entry_json, index_entry
from chaosrunner.report.junit import junit_xml
from chaosrunner.report.pages import environment
from chaosrunner.report.summary import summary_markdown
from chaosrunner.results import RunRecord, read_run_record
from chaosrunner.timeline import Timeline


def _tool_version(record: RunRecord) -> str:
    try:
        from chaosrunner.version import __version__
    except ImportError:
        __version__ = "?"
    return str(record.versions.get("chaosrunner") or __version__)


def unmeasured_text(verdicts: list[Verdict]) -> str:
    """``rpo (not read back), failover (no role probe)``: the objectives that could not be measured."""
    return ", ".join(f"{x.name} ({x.measured})" if x.measured else x.name for x in unmeasured_objectives(verdicts))


def _sentence(status: RunStatus, verdicts: list[Verdict]) -> str:
    failed = [x.name for x in verdicts if x.status is Status.FAILED]
    if status is RunStatus.HELD:
        return "Every hypothesis and objective held."
    if status is RunStatus.INCONCLUSIVE:
        return ("Nothing failed, but not every objective could be measured: " + unmeasured_text(verdicts)
                + ". A run that cannot measure what it declares does not pass.")
    if status is RunStatus.FAILED:
        return "Did not hold: " + ", ".join(failed) + "." if failed else "A hypothesis did not hold."
    if status is RunStatus.ABORTED:
        return "The run was stopped before it finished; its faults were reverted."
    if status is RunStatus.REVERT_FAILED:
        return "A fault could not be reverted: the system may still be degraded and needs a human."
    return ""


def _impact(record: RunRecord, tl: Timeline) -> str:
    """The game-day summary's 'Impact' line: the worst the load saw, and what the writer lost."""
    parts = []
    stats = [s for s in tl.load_stats if s.name == "Aggregated"]
    req = sum(s.requests for s in stats)
    if req:
        worst = max(stats, key=lambda s: (s.failures / s.requests) if s.requests else 0.0)
        share = worst.failures / worst.requests if worst.requests else 0.0
        parts.append(f"{sum(s.failures for s in stats) / req:.1%} of {req} requests failed "
                     f"(worst second {share:.0%} at {v.clock(worst.t)})")
    # time, not a count of samples: adaptive sampling takes more samples while a probe fails
    outs = [w.out_of_slo for w in record.measurements.windows if w.out_of_slo is not None]
    if outs:                           # seconds with at least one steady-state probe failing (as review.md says)
        parts.append(f"{sum(outs):.1f}s out of SLO (a steady-state probe failing)")
    integ = record.measurements.integrity
    if integ is not None:
        parts.append(f"{integ.lost or 0} acknowledged writes lost")
    return "; ".join(parts) or "not measured"


def report_context(record: RunRecord) -> dict[str, Any]:
    exp = record.experiment
    tl = record.to_timeline()
    verdicts = record.verdicts
    status = record.status
    mark, word = v.STATUS_TEXT[status]
    windows = v.windows_of(record, tl)
    instants = v.instants_of(windows)
    span = v.run_span(tl, record)
    counts = v.verdict_counts(verdicts)
    sampling = record.sampling
    return {
        "status": status.value, "mark": mark, "word": word, "run_id": record.run_id,
        "kind": "Game day" if exp.kind == "GameDay" or record.gameday is not None else "Experiment",
        "name": exp.name or "experiment", "description": exp.description or "",
        "hypothesis": exp.hypothesis or "", "file": exp.file or "",
        "verdict_headline": f"{word.capitalize()}",
        "verdict_sentence": _sentence(status, verdicts),
        "abort_reason": record.abort_reason or "",
        "revert_failures": [v.clip(x) for x in record.revert_failures],
        "started": v.when_text(record.started), "ended": v.when_text(record.ended),
        "duration": v.duration_text(record.duration_s),
        "environment": record.environment or "",
        "sampling": (f"every {v.duration_text(sampling.interval)}, stable for "
                     f"{v.duration_text(sampling.stable_for)}") if sampling is not None else "—",
        "counts_text": ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none",
        "score": score_run(record),
        "objectives": v.objective_rows(record, verdicts),
        "windows": v.window_rows(windows),
        "integrity": v.integrity_rows(record),
        "slo": v.slo_table(record),
        "charts": run_charts(tl, record.probes, windows, instants, span),
        "has_load": bool(tl.load_stats),
        "deviations": v.deviations(tl),
        "problems": v.probe_errors(tl),
        "rollbacks": v.rollback_rows(tl),
        "events": v.event_rows(tl),
        "events_hidden": max(0, len(tl.events) - v.MAX_EVENT_ROWS),
        "notes": v.note_rows(record),
        "gameday": gameday_of(record, tl),
        "impact": _impact(record, tl) if record.gameday is not None else "",
        "targets": v.target_rows(record),
        "targets_line": v.targets_line(record),
        "versions_line": v.versions_line(record),
        "versions": list(record.versions.items()),
        "definitions": DEFINITIONS,
        "tool_version": _tool_version(record),
    }


def report_html(record: RunRecord) -> str:
    """The whole report.html for one run record."""
    return environment().get_template("report.html.j2").render(**report_context(record))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_run_outputs(record: RunRecord, run_dir: Path | str) -> Path:
    """Write report.html, junit.xml, summary.md (and summary.json for the index) into ``run_dir``.

    ``record`` is the run as written to run.json (secrets already redacted). Returns the path of
    report.html.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = run_dir / "report.html"
    _write(report, report_html(record))
    _write(run_dir / "junit.xml", junit_xml(record))
    _write(run_dir / "summary.md", summary_markdown(record))
    _write(run_dir / "summary.json", entry_json(index_entry(record)))
    return report


def render_run(run_dir: Path | str) -> Path:
    """Rebuild report.html, junit.xml and summary.md from ``run_dir/run.json`` (any schema version);
    returns report.html. Raises ``ValueError`` when run.json is not a run record."""
    return write_run_outputs(read_run_record(Path(run_dir) / "run.json"), run_dir)
