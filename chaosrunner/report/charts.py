"""The report's charts, drawn by matplotlib's SVG backend and returned as inline ``<svg>`` text.

Series are downsampled for display (at most ``MAX_POINTS`` per line, ``BAND_BINS`` per health
band); run.json keeps every sample. Figures are built with ``matplotlib.figure.Figure`` (no
pyplot global state); text stays text (``svg.fonttype = none``) and nothing refers to a URL.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html import escape
from typing import Any
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from chaosrunner.results.record import WindowMeasurement  # noqa: E402
from chaosrunner.timeline import LoadStat, Timeline  # noqa: E402

Windows = Sequence[WindowMeasurement]

MAX_POINTS = 900
BAND_BINS = 900
WIDTH_IN = 10.0

OK_COLOUR = "#2e7d32"
FAIL_COLOUR = "#c62828"
FAULT_COLOUR = "#f9a825"
INSTANT_STYLE = {"detection": ("--", "#6a1b9a", "detected"),
                 "recovery": ("-", "#00838f", "recovered"),
                 "failover": (":", "#000000", "failed over"),
                 "users": ("-.", "#1565c0", "users' requests all ok")}
_RC: dict[str, Any] = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 9, "axes.titlesize": 10,
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
       "svg.image_inline": True}


def chart_style() -> Any:
    """The rc settings every chart is *built* under (not only saved): matplotlib reads
    ``text.parse_math`` when a text artist is created, so a probe named ``cost $5 and $6`` must meet
    it then, or it is typeset as mathtext."""
    rc: Any = dict(_RC)      # matplotlib types rc keys as a Literal union
    return matplotlib.rc_context(rc)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    caption: str


def figure_svg(fig: Figure, key: str, title: str) -> str:
    """Serialise a figure to an inline, responsive ``<svg>`` element with a ``<title>``."""
    buf = io.StringIO()
    rc: Any = {**_RC, "svg.hashsalt": key}   # matplotlib types rc keys as a Literal union
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
    # drop the fixed size so CSS scales the chart; keep the viewBox for the aspect ratio
    head_end = text.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    head += f' role="img" aria-label="{escape(title)}" class="chart"'
    return head + f"><title>{escape(title)}</title>" + text[head_end + 1:]


def _bins(t: np.ndarray, n: int) -> np.ndarray | None:
    """Start indices of at most ``n`` equal-time buckets over sorted ``t`` (None: no need)."""
    if len(t) <= n:
        return None
    edges = np.linspace(t[0], t[-1], n + 1)[:-1]
    return np.unique(np.searchsorted(t, edges, side="left"))


def _max_per_bin(y: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    return y if starts is None else np.fmax.reduceat(y, starts)


def _sum_per_bin(y: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    return y if starts is None else np.add.reduceat(y, starts)


def _shade(ax: Any, windows: Windows, span: float, label_top: bool = True) -> None:
    for w in windows:
        start = w.t0
        end = w.reverted_at if w.reverted_at is not None else span
        ax.axvspan(start, end, facecolor=FAULT_COLOUR, alpha=0.22, hatch="//", edgecolor="#b28704", linewidth=0,
                   zorder=0)
        # every fault of the window at its own offset, so a merged window never reads as one fault
        for f in w.faults[1:]:
            ax.axvline(start + f.offset, color="#b28704", linewidth=0.9, zorder=1)
        if label_top:
            if w.faults:
                label = f"window {w.window + 1}: " + ", ".join(
                    f"{f.step or f.fault_id} +{f.offset:.1f}s" for f in w.faults)
            else:
                targets = ", ".join(w.targets)
                label = f"fault {w.window + 1}" + (f": {targets}" if targets else "")
            ax.text(start, 1.0, " " + label[:80], transform=ax.get_xaxis_transform(), va="bottom", ha="left",
                    fontsize=8, color="#5d4000", clip_on=False)


def _instants(ax: Any, instants: Sequence[tuple[str, float, int]], seen: set[str]) -> None:
    for kind, t, _ in instants:
        style, colour, label = INSTANT_STYLE[kind]
        ax.axvline(t, linestyle=style, color=colour, linewidth=1.2,
                   label=label if kind not in seen else None)
        seen.add(kind)


def _legend(fig: Figure, handles_labels: tuple[list[Any], list[str]]) -> None:
    handles, labels = handles_labels
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(7, len(handles)), fontsize=8,
                   frameon=False)


def _axes(title: str, height: float = 2.6, nrows: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].set_title(title, loc="left", pad=14)
    for ax in axes:
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1].set_xlabel("seconds since the run started")
    return fig, axes


def _aggregated(stats: list[LoadStat]) -> list[LoadStat]:
    agg = [s for s in stats if s.name == "Aggregated"]
    if agg:
        return agg
    names = {s.name for s in stats}
    return stats if len(names) == 1 else []


def latency_chart(tl: Timeline, windows: Windows, instants: list[tuple[str, float, int]],
                  span: float) -> Chart | None:
    stats = sorted(_aggregated(tl.load_stats), key=lambda s: s.t)
    if not stats:
        return None
    t = np.array([s.t for s in stats], float)
    starts = _bins(t, MAX_POINTS)
    tx = t if starts is None else t[starts]
    title = "Latency (all requests): p50, p95, p99"
    fig, (ax,) = _axes(title)
    for key, style in (("p50", "-"), ("p95", "--"), ("p99", "-.")):
        y = np.array([getattr(s, key) if getattr(s, key) is not None else np.nan for s in stats], float)
        ax.plot(tx, _max_per_bin(y, starts), linestyle=style, linewidth=1.1, label=key)
    ax.set_ylabel("milliseconds")
    ax.set_xlim(0, span)
    ax.set_ylim(bottom=0)
    _shade(ax, windows, span)
    _instants(ax, instants, set())
    _legend(fig, ax.get_legend_handles_labels())
    caption = "Per-second percentiles from the load generator" + (
        f"; each point is the maximum over {span / len(tx):.1f} s" if starts is not None else "") + "."
    return Chart("latency", title, figure_svg(fig, "latency", title), caption)


def throughput_chart(tl: Timeline, windows: Windows, instants: list[tuple[str, float, int]],
                     span: float) -> Chart | None:
    stats = sorted(_aggregated(tl.load_stats), key=lambda s: s.t)
    if not stats:
        return None
    t = np.array([s.t for s in stats], float)
    starts = _bins(t, MAX_POINTS)
    req = _sum_per_bin(np.array([s.requests for s in stats], float), starts)
    fails = _sum_per_bin(np.array([s.failures for s in stats], float), starts)
    counts = _sum_per_bin(np.ones(len(t)), starts)
    rps = _sum_per_bin(np.array([s.rps for s in stats], float), starts) / counts
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(req > 0, fails / req * 100.0, np.nan)
    tx = t if starts is None else t[starts]
    title = "Throughput and error rate"
    fig, (ax_rps, ax_err) = _axes(title, height=3.4, nrows=2)
    ax_rps.plot(tx, rps, linewidth=1.1, color="#1565c0", label="requests/s")
    ax_rps.set_ylabel("requests/s")
    ax_rps.set_ylim(bottom=0)
    ax_err.plot(tx, err, linewidth=1.1, color=FAIL_COLOUR, label="error rate")
    ax_err.set_ylabel("errors %")
    ax_err.set_ylim(0, max(5.0, float(np.nanmax(err)) * 1.1) if np.isfinite(err).any() else 5.0)
    for i, ax in enumerate((ax_rps, ax_err)):
        ax.set_xlim(0, span)
        _shade(ax, windows, span, label_top=i == 0)
        _instants(ax, instants, set() if i == 0 else set(INSTANT_STYLE))
    h1, l1 = ax_rps.get_legend_handles_labels()
    h2, l2 = ax_err.get_legend_handles_labels()
    _legend(fig, (h1 + h2, l1 + l2))
    caption = "Requests per second and the share of failed requests" + (
        f", averaged over {span / len(tx):.1f} s buckets" if starts is not None else "") + "."
    return Chart("throughput", title, figure_svg(fig, "throughput", title), caption)


def _band_states(starts: np.ndarray, ok: np.ndarray, span: float, n: int) -> np.ndarray:
    """Per bin: 0 no sample, 1 all ok, 2 any failing; empty bins carry the previous state."""
    idx = np.clip((starts / span * n).astype(int), 0, n - 1)
    has = np.bincount(idx, minlength=n) > 0
    bad = np.bincount(idx, weights=(~ok).astype(float), minlength=n) > 0
    state = np.where(bad, 2, np.where(has, 1, 0))
    if has.any():
        # forward-fill gaps between samples; before the first sample stays empty
        pos = np.where(has, np.arange(n), 0)
        np.maximum.accumulate(pos, out=pos)
        state = np.where(np.arange(n) >= np.argmax(has), state[pos], 0)
    return state


def _runs(state: np.ndarray, value: int, width: float) -> list[tuple[float, float]]:
    mask = np.concatenate(([False], state == value, [False]))
    d = np.diff(mask.astype(int))
    begins, ends = np.where(d == 1)[0], np.where(d == -1)[0]
    return [(b * width, (e - b) * width) for b, e in zip(begins, ends, strict=True)]


def health_chart(tl: Timeline, probes: list[str], windows: Windows,
                 instants: list[tuple[str, float, int]], span: float) -> Chart | None:
    names = probes or tl.probe_names()
    by_probe: dict[str, list[Any]] = {n: [] for n in names}
    for s in tl.samples:
        by_probe.setdefault(s.probe, []).append(s)
    names = [n for n, ss in by_probe.items() if ss]
    if not names:
        return None
    title = "Steady-state probes: health per sample"
    fig, (ax,) = _axes(title, height=1.1 + 0.42 * len(names))
    width = span / BAND_BINS
    for row, name in enumerate(names):
        ss = by_probe[name]
        state = _band_states(np.array([s.start for s in ss], float), np.array([s.ok for s in ss], bool),
                             span, BAND_BINS)
        y = (len(names) - 1 - row, 0.7)
        ax.broken_barh(_runs(state, 1, width), y, facecolors=OK_COLOUR, label="ok" if row == 0 else None)
        ax.broken_barh(_runs(state, 2, width), y, facecolors=FAIL_COLOUR, hatch="xxx", edgecolor="white",
                       linewidth=0, label="failing" if row == 0 else None)
    ax.set_yticks([len(names) - 1 - i + 0.35 for i in range(len(names))], [n[:40] for n in names])
    ax.set_ylim(-0.2, len(names) + 0.1)
    ax.set_xlim(0, span)
    ax.grid(False)
    _shade(ax, windows, span)
    _instants(ax, instants, set())
    _legend(fig, ax.get_legend_handles_labels())
    caption = ("Green: every sample ok; red, cross-hatched: at least one failing sample"
               + (f" in a {width:.1f} s slice" if width > 0.3 else "") + ". Hatched amber: fault windows.")
    return Chart("health", title, figure_svg(fig, "health", title), caption)


def writes_chart(tl: Timeline, windows: Windows, instants: list[tuple[str, float, int]],
                 span: float) -> Chart | None:
    if not tl.writes:
        return None
    acked = np.sort(np.array([w.ack for w in tl.writes if w.ack is not None], float))
    lost = np.sort(np.array([w.ack for w in tl.writes if w.ack is not None and w.found in ("missing", "corrupted")],
                            float))
    unacked = np.sort(np.array([w.sent for w in tl.writes if w.ack is None], float))
    grid = np.linspace(0, span, MAX_POINTS)
    title = "Writer: acknowledged and lost writes"
    fig, (ax,) = _axes(title)
    ax.step(grid, np.searchsorted(acked, grid, side="right"), where="post", color="#1565c0", linewidth=1.2,
            label=f"acknowledged ({len(acked)})")
    ax.set_ylabel("acknowledged (cumulative)")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.spines[["top"]].set_visible(False)
    ax2.step(grid, np.searchsorted(lost, grid, side="right"), where="post", color=FAIL_COLOUR, linewidth=1.4,
             linestyle="--", label=f"lost ({len(lost)})")
    ax2.step(grid, np.searchsorted(unacked, grid, side="right"), where="post", color="#616161", linewidth=1.0,
             linestyle=":", label=f"not acknowledged ({len(unacked)})")
    if len(lost):
        marks = np.unique(np.round(lost / span * MAX_POINTS)) * span / MAX_POINTS
        ax2.plot(marks, np.zeros(len(marks)), "x", color=FAIL_COLOUR, markersize=6, clip_on=False)
    ax2.set_ylabel("lost / unacknowledged")
    ax2.set_ylim(bottom=0, top=max(1.0, len(lost), len(unacked)) * 1.15)
    ax.set_xlim(0, span)
    _shade(ax, windows, span)
    _instants(ax, instants, set())
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    _legend(fig, (h1 + h2, l1 + l2))
    caption = ("Acknowledged writes by acknowledgement time; lost writes (acknowledged, then missing or altered "
               "on read-back) marked ✗ at the time they were acknowledged.")
    return Chart("writes", title, figure_svg(fig, "writes", title), caption)


def run_charts(tl: Timeline, probes: list[str], windows: Windows,
               instants: list[tuple[str, float, int]], span: float) -> list[Chart]:
    with chart_style():
        charts = [latency_chart(tl, windows, instants, span), throughput_chart(tl, windows, instants, span),
                  health_chart(tl, probes, windows, instants, span), writes_chart(tl, windows, instants, span)]
    return [c for c in charts if c is not None]
