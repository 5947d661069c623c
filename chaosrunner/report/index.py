"""reports/index.html: every run, newest first, filterable; per experiment the trend of RTO, RPO and p99.

- RTO of a run = its longest recovery over its fault windows; a run with a window that never
  recovered has an unbounded RTO: its table cell says "not recovered" and the trend marks it at
  the top of the axis, labelled, in the failing style (never the largest finite value instead).
- p99 = the fault window's p99 as the run measured it (``measurements.slo.fault.p99``, estimated
  from per-second percentiles), else the worst per-second p99 during the fault windows.

Each run directory holds a small ``summary.json`` (written with its report) so the index does not
parse every run.json again; a run without one (or with an older one) is read from its run.json.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from markupsafe import Markup

from chaosrunner.report import _view as v
from chaosrunner.report.charts import chart_style, figure_svg

ENTRY_VERSION = 2

# Filtering is an enhancement: without script every row shows; the CSP allows this script only.
FILTER_SCRIPT = """
(function () {
  var exp = document.getElementById('f-exp'), st = document.getElementById('f-status');
  var rows = document.querySelectorAll('#runs tbody tr'), count = document.getElementById('f-count');
  document.getElementById('filters').hidden = false;
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


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _fault_p99(run: dict[str, Any], windows: list[dict[str, Any]]) -> float | None:
    slo = (run.get("measurements") or {}).get("slo") or {}
    fault = slo.get("fault") if isinstance(slo, dict) else None
    if isinstance(fault, dict) and _finite(fault.get("p99")) is not None:
        return _finite(fault["p99"])
    stats = [s for s in ((run.get("timeline") or {}).get("load_stats") or []) if s.get("name") == "Aggregated"]
    spans = [(w.get("start"), w.get("end")) for w in windows if w.get("start") is not None]
    if spans:
        stats = [s for s in stats if any(a <= s["t"] <= (b if b is not None else math.inf) for a, b in spans)]
    values = [s["p99"] for s in stats if _finite(s.get("p99")) is not None]
    return max(values) if values else None


def index_entry(run: dict[str, Any]) -> dict[str, Any]:
    """What the index shows of one run (small, JSON-safe)."""
    exp = run.get("experiment") or {}
    tl = v.timeline_of({"timeline": {"events": (run.get("timeline") or {}).get("events", [])}})
    windows = v.windows_of(run, tl)
    judged = [w for w in windows if w.get("measured") is not False]
    recovered = all(w.get("recovered") is not False and (w.get("recovery") is not None or w.get("detection") is None)
                    for w in judged)
    finite = [r for r in (_finite(w.get("recovery")) for w in judged) if r is not None]
    rto = max(finite, default=None) if recovered else None      # a window that never recovered: unbounded
    integ = (run.get("measurements") or {}).get("integrity") or {}
    verdicts = v.verdicts_of(run)
    return {
        "version": ENTRY_VERSION, "run_id": str(run.get("run_id", "")), "experiment": str(exp.get("name") or "?"),
        "kind": str(exp.get("kind") or "Experiment"), "status": str(run.get("status") or "unknown"),
        "started": run.get("started"), "duration_s": _finite(run.get("duration_s")),
        "rto": rto, "recovered": recovered, "rpo": _finite(integ.get("rpo")), "lost": integ.get("lost"),
        "p99": _fault_p99(run, windows),
        "verdicts": dict(v.verdict_counts(verdicts)),
        "failed": [x.name for x in verdicts if x.status.value == "failed"],
    }


def _read_entry(run_dir: Path) -> dict[str, Any] | None:
    run_json, cached = run_dir / "run.json", run_dir / "summary.json"
    try:
        if cached.exists() and cached.stat().st_mtime >= run_json.stat().st_mtime:
            entry = json.loads(cached.read_text(encoding="utf-8"))
            if entry.get("version") == ENTRY_VERSION:
                return entry
        return index_entry(json.loads(run_json.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def collect_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Every readable run under ``reports_dir``, newest first."""
    out = []
    for run_json in sorted(Path(reports_dir).glob("*/run.json")):
        entry = _read_entry(run_json.parent)
        if entry is not None:
            entry["dir"] = run_json.parent.name
            entry["has_report"] = (run_json.parent / "report.html").exists()
            out.append(entry)
    out.sort(key=lambda e: (str(e.get("started") or ""), e["run_id"]), reverse=True)
    return out


def _started(e: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(e.get("started")).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def trend_chart(name: str, runs: list[dict[str, Any]], key: str) -> str:
    """RTO, RPO and p99 of one experiment's runs over time (oldest left)."""
    from datetime import timedelta

    dated = ((_started(e), e) for e in runs)
    points = sorted(((at, e) for at, e in dated if at is not None), key=lambda p: p[0])
    xlim = None
    if points:  # a single run (or runs on one day) still gets a readable date axis
        lo, hi = points[0][0], points[-1][0]
        pad = max((hi - lo) * 0.05, timedelta(seconds=30))   # runs minutes apart stay apart on the axis
        xlim = (lo - pad, hi + pad)
    with chart_style():
        return _trend_figure(name, key, points, xlim)


def _trend_figure(name: str, key: str, points: list[Any], xlim: Any) -> str:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.6), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True)
    title = f"{name}: trend over {len(points)} runs"
    fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    for ax, (metric, label) in zip(axes, (("rto", "RTO measured (s)"), ("rpo", "RPO measured (s)"),
                                          ("p99", "p99 in fault window (ms)")), strict=True):
        xs = [p[0] for p in points if p[1].get(metric) is not None]
        ys = [p[1][metric] for p in points if p[1].get(metric) is not None]
        unbounded = [p[0] for p in points if metric == "rto" and p[1].get("recovered") is False]
        ax.set_title(label, loc="left", fontsize=9)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        if xs or unbounded:
            if xs:
                ax.plot(xs, ys, "-", color="#1565c0", linewidth=1)
            for x, p in ((p[0], p[1]) for p in points if p[1].get(metric) is not None):
                bad = p["status"] != "held"
                ax.plot([x], [p[metric]], "x" if bad else "o", color="#c62828" if bad else "#2e7d32",
                        markersize=6 if bad else 4)
            top = max(ys, default=1.0) * 1.25 or 1.0
            ax.set_ylim(0, top)
            for x in unbounded:       # never recovered: unbounded, drawn at the top of the axis
                ax.plot([x], [top], "^", color="#c62828", markersize=7, clip_on=False)
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


def index_html(runs: list[dict[str, Any]], title: str = "chaosrunner runs") -> str:
    from chaosrunner.report.render import environment

    experiments: dict[str, list[dict[str, Any]]] = {}
    for e in runs:
        experiments.setdefault(e["experiment"], []).append(e)
    rows = []
    for e in runs:
        mark, word = v.STATUS_TEXT.get(e["status"], ("?", e["status"]))
        rto = "not recovered" if not e.get("recovered", True) else v.duration_text(e.get("rto"))
        rows.append({**e, "mark": mark, "word": word, "when": v.when_text(e.get("started")),
                     "took": v.duration_text(e.get("duration_s")), "rto_text": rto,
                     "rpo_text": v.duration_text(e.get("rpo")),
                     "p99_text": f"{e['p99']:.0f} ms" if e.get("p99") is not None else "—",
                     "failed_text": ", ".join(e.get("failed") or [])})
    trends = [{"name": name, "id": f"exp-{i}", "svg": trend_chart(name, rs, str(i)), "count": len(rs)}
              for i, (name, rs) in enumerate(sorted(experiments.items()))]
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode()).digest()).decode()
    return environment().get_template("index.html.j2").render(
        title=title, rows=rows, trends=trends, experiments=sorted(experiments),
        statuses=sorted({e["status"] for e in runs}), script=Markup(FILTER_SCRIPT), script_hash=digest,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def render_index(reports_dir: Path | str) -> Path:
    """Write ``reports_dir/index.html`` listing every run under it; returns its path."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "index.html"
    tmp = path.with_name("index.html.tmp")
    tmp.write_text(index_html(collect_runs(reports_dir)), encoding="utf-8")
    tmp.replace(path)
    return path
