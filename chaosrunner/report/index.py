"""reports/index.html: every run, newest first, filterable; per experiment the trend of RTO, RPO and p99.

The runs come from the reports folder's history (``reports/history.sqlite``, one row per run, see
``results.history``), not from parsing every run.json; run folders the history lacks (written by an
older version, or copied in) are added to it first. What each run contributes (its ``IndexEntry``) is
defined in ``report.entry``: RTO is the longest recovery over a run's fault windows, unbounded ("not
recovered", drawn at the top of the trend's axis in the failing style) when one never recovered;
p99 is the fault window's.

With a risk register (``risks.yaml``: the one given, else the nearest above the reports folder, see
``read.risks``), the index also shows the register view (``report.register``): the severity ×
probability heat map of the risks coloured by verification state, each risk's coverage, and the
seed's risk score. Every run's resilience score (``analyse.score``, kept in the history) is a column
of the runs and a panel of its experiment's trend.
"""
from __future__ import annotations

import base64
import hashlib
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from markupsafe import Markup

from chaosrunner.analyse.status import RunStatus
from chaosrunner.report import _view as v
from chaosrunner.report.charts import chart_style, figure_svg
from chaosrunner.report.entry import IndexEntry, entry_of
from chaosrunner.report.pages import environment
from chaosrunner.results.history import History, read_folder_row

# Filtering is an enhancement: without script every row shows; the CSP allows this script only.
FILTER_SCRIPT = """
(function () {
  var exp = document.getElementById('f-exp'), st = document.getElementById('f-status');
  var rows = document.querySelectorAll('#runs tbody tr'), count = document.getElementById('f-count');
  var form = document.getElementById('filters');
  form.hidden = false;
  // not an inline onsubmit: the CSP blocks inline handlers (a console error)
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  function apply() {
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!exp.value || r.dataset.experiment === exp.value) && (!st.value || r.dataset.status === st.value);
      r.hidden = !ok; if (ok) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' runs shown';
  }
  exp.addEventListener('change', apply); st.addEventListener('change', apply); apply();
})();
""".strip()


LABELLED_UNBOUNDED = 20
"""The most recent "not recovered" markers that get a label (more would only overprint each other)."""


@dataclass(frozen=True)
class IndexedRun:
    """A run found under the reports folder: its entry, its folder's name, whether it has a report."""

    entry: IndexEntry
    dir: str
    has_report: bool
    score: float | None = None          # the run's resilience score, from the history (``analyse.score``)


def collect_runs(reports_dir: Path) -> list[IndexedRun]:
    """Every run in the reports folder's history (``history.sqlite``; run folders it lacks are added), newest first."""
    reports_dir = Path(reports_dir)
    try:
        with History.open(reports_dir, sync=True) as history:
            rows = history.rows()
    except (sqlite3.Error, OSError) as exc:       # e.g. a reports folder that cannot be written: read the folders
        print(f"chaosrunner: the history of {reports_dir} cannot be used ({exc}); reading the run folders",
              file=sys.stderr)
        found = (read_folder_row(d.parent) for d in sorted(reports_dir.glob("*/run.json")))
        rows = [r for r in found if r is not None]
    out = [IndexedRun(entry_of(row), row.run_dir or row.run_id, (reports_dir / (row.run_dir or row.run_id)
                                                                 / "report.html").exists(), getattr(row, "score", None))
           for row in rows]
    out.sort(key=lambda r: (str(r.entry.started or ""), r.entry.run_id), reverse=True)
    return out


def _started(e: IndexEntry) -> datetime | None:
    try:
        return datetime.fromisoformat(str(e.started).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def trend_chart(name: str, runs: list[IndexEntry], key: str, scores: dict[str, float] | None = None) -> str:
    """RTO, RPO, p99 and the resilience score of one experiment's runs over time (oldest left)."""
    from datetime import timedelta

    dated = ((_started(e), e) for e in runs)
    points = sorted(((at, e) for at, e in dated if at is not None), key=lambda p: p[0])
    xlim = None
    if points:  # a single run (or runs on one day) still gets a readable date axis
        lo, hi = points[0][0], points[-1][0]
        pad = max((hi - lo) * 0.05, timedelta(seconds=30))   # runs minutes apart stay apart on the axis
        xlim = (lo - pad, hi + pad)
    with chart_style():
        return _trend_figure(name, key, points, xlim, scores or {})


def _trend_figure(name: str, key: str, points: list[Any], xlim: Any, scores: dict[str, float]) -> str:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    # a fixed layout, not "constrained": that draws every figure twice, and the index has one per experiment
    fig = Figure(figsize=(12, 2.6))
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.14, top=0.8, wspace=0.25)
    axes = fig.subplots(1, 4, sharex=True)
    title = f"{name}: trend over {len(points)} runs"
    fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    def value(entry: IndexEntry, metric: str) -> float | None:
        return scores.get(entry.run_id) if metric == "score" else getattr(entry, metric)

    for ax, (metric, label) in zip(axes, (("rto", "RTO measured (s)"), ("rpo", "RPO measured (s)"),
                                          ("p99", "p99 in fault window (ms)"),
                                          ("score", "resilience score (0-100)")), strict=True):
        pairs = [(p[0], y) for p in points if (y := value(p[1], metric)) is not None]
        xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
        unbounded = [p[0] for p in points if metric == "rto" and p[1].recovered is False]
        ax.set_title(label, loc="left", fontsize=9)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        if xs or unbounded:
            if xs:
                ax.plot(xs, ys, "-", color="#1565c0", linewidth=1)
            # one artist per kind of marker, not one per run: an index over 1,000 runs stays fast
            measured = [(p[0], value(p[1], metric), p[1].status is not RunStatus.HELD)
                        for p in points if value(p[1], metric) is not None]
            for bad, marker, color, size in ((False, "o", "#2e7d32", 4), (True, "x", "#c62828", 6)):
                kind = [(x, y) for x, y, b in measured if b is bad]
                if kind:
                    ax.plot([x for x, _ in kind], [y for _, y in kind], marker, color=color, markersize=size,
                            linestyle="none")
            top = 100.0 if metric == "score" else max(ys, default=1.0) * 1.25 or 1.0
            ax.set_ylim(0, top)
            if unbounded:             # never recovered: unbounded, drawn at the top of the axis
                ax.plot(unbounded, [top] * len(unbounded), "^", color="#c62828", markersize=7, clip_on=False,
                        linestyle="none")
            for x in unbounded[-LABELLED_UNBOUNDED:]:
                ax.annotate("not recovered", (x, top), xytext=(0, -4), textcoords="offset points",
                            ha="center", va="top", fontsize=7, color="#c62828")
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="#555")
        if xlim is not None:
            ax.set_xlim(*xlim)
        locator = AutoDateLocator(minticks=2, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return figure_svg(fig, f"trend-{key}", title)


def index_html(runs: list[IndexedRun], title: str = "chaosrunner runs", register: dict[str, Any] | None = None,
               scores: dict[str, float] | None = None) -> str:
    """The index page; ``register``: the register view (``report.register.register_view``), ``scores``: run id →
    resilience score."""
    scores = scores or {}
    experiments: dict[str, list[IndexEntry]] = {}
    for r in runs:
        experiments.setdefault(r.entry.experiment, []).append(r.entry)
    rows: list[dict[str, Any]] = []
    for r in runs:
        e = r.entry
        mark, word = v.STATUS_TEXT[e.status]
        rto = "not recovered" if not e.recovered else v.duration_text(e.rto)
        rows.append({**e.model_dump(), "status": e.status.value, "dir": r.dir, "has_report": r.has_report,
                     "bad": e.status is not RunStatus.HELD, "mark": mark, "word": word,
                     "when": v.when_text(e.started), "took": v.duration_text(e.duration_s), "rto_text": rto,
                     "rpo_text": v.duration_text(e.rpo), "p99_text": f"{e.p99:.0f} ms" if e.p99 is not None else "—",
                     "failed_text": ", ".join(e.failed),
                     "score_text": f"{scores[e.run_id]:.1f}" if e.run_id in scores else "—"})
    trends = [{"name": name, "id": f"exp-{i}", "svg": trend_chart(name, rs, str(i), scores), "count": len(rs),
               "score": _latest_score(rs, scores)}
              for i, (name, rs) in enumerate(sorted(experiments.items()))]
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode()).digest()).decode()
    return environment().get_template("index.html.j2").render(
        title=title, rows=rows, trends=trends, experiments=sorted(experiments), register=register,
        statuses=sorted({r.entry.status.value for r in runs}), script=Markup(FILTER_SCRIPT), script_hash=digest,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _latest_score(runs: list[IndexEntry], scores: dict[str, float]) -> str | None:
    dated = sorted((str(e.started or ""), e.run_id) for e in runs if e.run_id in scores)
    return f"{scores[dated[-1][1]]:.1f}" if dated else None


def render_index(reports_dir: Path | str, register: Path | str | None = None, now: datetime | None = None) -> Path:
    """Write ``reports_dir/index.html`` listing every run under it; returns its path.

    ``register``: the risk register to show (default: ``risks.yaml`` found from the reports folder up,
    see ``read.risks.find_register``; none found: no register view). A register that cannot be read is a
    ConfigError (exit 2); ``now``: the time verification ages are measured at (default: now)."""
    from chaosrunner.report.register import register_view
    from chaosrunner.read.risks import find_register, read_register
    from chaosrunner.risks.sources import gather

    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    register_path = Path(register) if register is not None else find_register(reports_dir)
    reg = read_register(register_path) if register_path is not None else None
    runs = collect_runs(reports_dir)
    scores = {r.entry.run_id: r.score for r in runs if r.score is not None}
    view = None
    if reg is not None and register_path is not None:
        folders = [d for d in (register_path.parent / "experiments", register_path.parent / "gamedays") if d.is_dir()]
        view = register_view(register_path, reg, gather(reports_dir, folders), now or datetime.now(UTC))
    path = reports_dir / "index.html"
    tmp = path.with_name("index.html.tmp")
    tmp.write_text(index_html(runs, register=view, scores=scores), encoding="utf-8")
    tmp.replace(path)
    return path
