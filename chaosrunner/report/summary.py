"""summary.md: the run in a few lines of Markdown, fit for a CI job summary or a chat message.

Everything that came from a target (errors, names) is escaped so it renders as text: no HTML
tags, no table breaks, no links.
"""
from __future__ import annotations

import re
from typing import Any

from chaosrunner.analyse.verdict import unmeasured_objectives
from chaosrunner.report import _view as v
from chaosrunner.results import RunRecord

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md(text: Any, limit: int = 200) -> str:
    """Escape text for a Markdown table cell or line (newlines become spaces)."""
    s = " ".join(v.clip(text, limit).split())
    s = s.replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\\<", "&lt;").replace("\\>", "&gt;")


def summary_markdown(record: RunRecord) -> str:
    exp = record.experiment
    mark, word = v.STATUS_TEXT[record.status]
    verdicts = record.verdicts
    tl = record.to_timeline()
    lines = [f"## {mark} {md(exp.name or 'experiment')}: {word}", ""]
    if exp.hypothesis:
        lines += [f"> {md(exp.hypothesis, 400)}", ""]
    lines.append(f"Run `{md(record.run_id, 80)}` · started {v.when_text(record.started)} · "
                 f"took {v.duration_text(record.duration_s)} · exit code {record.exit_code}")
    if record.abort_reason:
        lines.append(f"\n**Aborted:** {md(record.abort_reason, 300)}")
    unmeasured = unmeasured_objectives(verdicts)
    if unmeasured:
        lines.append("\n**Could not be measured (the run is inconclusive, exit code 1):** "
                     + "; ".join(f"{md(x.name, 80)}: {md(x.measured, 80)}" for x in unmeasured))
    if record.revert_failures:
        lines.append("\n**Faults not reverted (need a human):** "
                     + "; ".join(md(x, 200) for x in record.revert_failures))
    rows = v.objective_rows(record, verdicts)
    if rows:
        lines += ["", "| | Check | Expected | Measured | Precision |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['mark']} {r['status']} | {md(r['name'], 80)} | {md(r['expected'], 80)} | "
                         f"{md(r['measured'], 80)} | {md(r['precision'], 20)} |")
    windows = v.window_rows(v.windows_of(record, tl))
    if windows:
        lines += ["", "| Fault window | Targets | Detection | Recovery | Out of SLO | Deviations | Relapses | "
                      "Failover | Failback |", "|---|---|---|---|---|---|---|---|---|"]
        for w in windows:
            lines.append(f"| {w['index']} ({w['start']} – {w['end']}) | {md(w['targets'], 80)} | "
                         f"{w['detection']} | {w['recovery']} | {w['out_of_slo']} | {w['deviations']} | "
                         f"{w['relapses']} | {w['failover']} | {w['failback']} |")
        for w in windows:
            seen = [f"{what}: {md(w[key], 200)}" for what, key in (("users' recovery", "users"), ("writes", "writes"))
                    if w[key] != "—"]
            if seen or len(w["faults"].split("; ")) > 1:
                lines.append(f"- window {w['index']}: faults {md(w['faults'], 300)}"
                             + "".join(f"; {x}" for x in seen))
    integrity = v.integrity_rows(record)
    if integrity:
        lines += ["", "Data integrity: " + " · ".join(f"{md(k, 60)}: {md(x, 40)}" for k, x in integrity)]
    devs = v.deviations(tl, limit=5)
    if devs:
        lines += ["", "What deviated:"]
        lines += [f"- {d['count']} × **{md(d['probe'], 60)}**: {md(d['error'], 160)} "
                  f"({d['first']} – {d['last']})" for d in devs]
    lines += ["", "Full report: `report.html` (opens offline) · machine-readable: `run.json`, `junit.xml`", ""]
    return "\n".join(lines)
