"""Regressions: a run's headline figures against a baseline's, within tolerances and measurement resolution.

Definitions (the README's "CI gate" section says the same):

- **Figures** compared (each worse when higher, except the score): ``rto`` and ``failover``
  (seconds, ± the sampling interval), ``rpo`` (seconds, ± one write interval), ``p99`` (the fault
  window's, seconds, ± half the bucket Locust rounds it to), ``error_rate`` (the fault window's,
  a fraction) and ``lost`` (acknowledged writes lost), and ``score`` (the resilience score, worse
  when lower; compared only when a tolerance names it).
- **Tolerance**: how much worse a figure may get — ``+20%`` of the baseline's value, ``+1pt``
  (percentage points, for ``error_rate``), ``+500ms`` (an absolute duration), ``0`` or ``3`` (an
  absolute count, for ``lost`` and ``score``); ``off`` compares nothing.
- **Resolution rule**: a difference within the two runs' combined ± (the baseline's resolution plus
  the run's) is never a regression. A figure regressed when it got worse by more than
  ``max(tolerance, combined ±)``. So a 250 ms sampling grid (± 0.25 s on each side) never fails a
  gate by itself: a failover of 2.5 s after 2.0 s is within ± 0.5 s.
- A figure the baseline measured and the run did not (no failover, never recovered) regressed;
  one the baseline did not measure is not compared.
- **Repeats** (``--repeat N``): each figure is the median of the N runs' (``statistics.median``),
  its resolution the largest of theirs.

Pure functions: no I/O, no clock.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from chaosrunner import units

Unit = Literal["s", "fraction", "count", "points"]


@dataclass(frozen=True)
class Figure:
    """One measured figure of a run: its value (None: not measured; inf: unbounded) and its ±."""

    value: float | None
    resolution: float = 0.0


@dataclass(frozen=True)
class FigureKind:
    name: str
    unit: Unit
    higher_is_worse: bool = True


FIGURES: Final[dict[str, FigureKind]] = {k.name: k for k in (
    FigureKind("rto", "s"), FigureKind("failover", "s"), FigureKind("rpo", "s"), FigureKind("p99", "s"),
    FigureKind("error_rate", "fraction"), FigureKind("lost", "count"),
    FigureKind("score", "points", higher_is_worse=False))}

DEFAULT_TOLERANCES: Final = "rto=+20%,failover=+20%,rpo=+20%,p99=+30%,error_rate=+1pt,lost=0"


@dataclass(frozen=True)
class Tolerance:
    """How much worse a figure may get: ``relative`` (a fraction of the baseline) or ``absolute`` (its unit)."""

    figure: str
    kind: Literal["relative", "absolute", "off"]
    amount: float
    text: str

    def allowed(self, baseline: float) -> float:
        if self.kind == "relative":
            return abs(baseline) * self.amount
        return self.amount


class ToleranceError(ValueError):
    """A ``--tolerance`` that cannot be read (the message says which part and how to write it)."""


_NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def parse_tolerance(figure: str, text: str) -> Tolerance:
    """One ``figure=value`` pair's value, for ``figure``."""
    kind = FIGURES.get(figure)
    if kind is None:
        raise ToleranceError(f"unknown figure {figure!r} in --tolerance; known: {', '.join(FIGURES)}")
    value = text.strip()
    example = {"s": "+20% or +500ms", "fraction": "+1pt or +50%", "count": "0 or 5",
               "points": "5 (points of the score)"}[kind.unit]
    if value == "off":
        return Tolerance(figure, "off", 0.0, "off")
    if value.startswith("-"):
        raise ToleranceError(f"--tolerance {figure}={text}: a tolerance is how much worse the figure may get, "
                             f"never negative; write e.g. {figure}={example.split(' or ')[0]}")
    body = value[1:] if value.startswith("+") else value
    if re.fullmatch(_NUMBER + "%", body):
        return Tolerance(figure, "relative", float(body[:-1]) / 100.0, f"+{body[:-1]} %")
    if kind.unit == "fraction" and re.fullmatch(_NUMBER + "pt", body):
        return Tolerance(figure, "absolute", float(body[:-2]) / 100.0, f"+{body[:-2]} pt")
    if kind.unit in ("count", "points") and re.fullmatch(_NUMBER, body):
        return Tolerance(figure, "absolute", float(body), f"+{body}")
    if kind.unit == "s" and re.fullmatch(_NUMBER + r"\s*(ms|s|m|h)", body):
        seconds = units.parse_duration(body)
        return Tolerance(figure, "absolute", seconds, f"+{units.format_duration(seconds)}")
    raise ToleranceError(f"--tolerance {figure}={text!r} is not a tolerance for {figure}; write e.g. "
                         f"{figure}={example} (or {figure}=off)")


def parse_tolerances(text: str | None, defaults: str = DEFAULT_TOLERANCES) -> dict[str, Tolerance]:
    """``rto=+20%,p99=+30%``, over the defaults (a figure not named keeps its default)."""
    out: dict[str, Tolerance] = {}
    for source in (defaults, text or ""):
        for item in (x.strip() for x in source.split(",")):
            if not item:
                continue
            if "=" not in item:
                raise ToleranceError(f"--tolerance {item!r} is not FIGURE=VALUE; write e.g. rto=+20%,lost=0")
            figure, value = (x.strip() for x in item.split("=", 1))
            out[figure] = parse_tolerance(figure, value)
    return out


@dataclass(frozen=True)
class Comparison:
    """One figure, baseline vs now."""

    figure: str
    baseline: Figure
    now: Figure
    tolerance: Tolerance | None
    regressed: bool
    compared: bool
    note: str = ""

    @property
    def worse_by(self) -> float | None:
        """How much worse now is (negative: better); None when either is unmeasured."""
        b, n = self.baseline.value, self.now.value
        if b is None or n is None:
            return None
        if math.isinf(b) and math.isinf(n):
            return 0.0
        return (n - b) if FIGURES[self.figure].higher_is_worse else (b - n)

    @property
    def combined_resolution(self) -> float:
        return self.baseline.resolution + self.now.resolution

    def message(self) -> str:
        """"failover 9.1 s vs baseline 2.3 s (+296 %, tolerance +20 %)"."""
        unit = FIGURES[self.figure].unit
        now, base = format_value(self.now.value, unit), format_value(self.baseline.value, unit)
        head = f"{self.figure} {now} vs baseline {base}"
        tol = f"tolerance {self.tolerance.text}" if self.tolerance is not None else "no tolerance"
        return f"{head} ({change_text(self.baseline.value, self.now.value, unit)}, {tol})"


def format_value(value: float | None, unit: Unit) -> str:
    if value is None:
        return "not measured"
    if math.isinf(value):
        return "never" if unit == "s" else "∞"
    if unit == "s":
        if abs(value) < 1:
            return f"{value * 1000:.0f} ms"
        return f"{value:.3g} s" if abs(value) < 100 else f"{value:.0f} s"
    if unit == "fraction":
        return f"{value * 100:.2f} %"
    if unit == "points":
        return f"{value:.1f}"
    return f"{value:g}"


def change_text(baseline: float | None, now: float | None, unit: Unit) -> str:
    """The change from baseline to now: "+296 %", "+2.7 pt", "+12", "unbounded"."""
    if baseline is None or now is None:
        return "—"
    if math.isinf(now) or math.isinf(baseline):
        return "unbounded" if math.isinf(now) and not math.isinf(baseline) else "±0" if now == baseline else "—"
    if unit == "fraction":
        return f"{(now - baseline) * 100:+.2f} pt"
    if unit in ("count", "points"):
        return f"{now - baseline:+g}"
    if baseline == 0:
        return "±0" if now == 0 else f"{format_value(now - baseline, unit)} more (from 0)"
    return f"{(now - baseline) / abs(baseline) * 100:+.0f} %"


def compare(baseline: Mapping[str, Figure], now: Mapping[str, Figure],
            tolerances: Mapping[str, Tolerance]) -> list[Comparison]:
    """Every figure, baseline vs now (see the module docstring for the rule)."""
    out = []
    for name in FIGURES:
        b, n = baseline.get(name, Figure(None)), now.get(name, Figure(None))
        tol = tolerances.get(name)
        if b.value is None and n.value is None:
            continue
        if tol is None or tol.kind == "off":
            out.append(Comparison(name, b, n, tol, regressed=False, compared=False, note="not gated"))
            continue
        if b.value is None:
            out.append(Comparison(name, b, n, tol, regressed=False, compared=False,
                                  note="the baseline did not measure it"))
            continue
        if n.value is None:
            out.append(Comparison(name, b, n, tol, regressed=True, compared=True,
                                  note="measured by the baseline, not by this run"))
            continue
        cmp = Comparison(name, b, n, tol, regressed=False, compared=True)
        worse = cmp.worse_by or 0.0
        limit = max(tol.allowed(b.value) if math.isfinite(b.value) else math.inf, cmp.combined_resolution)
        regressed = worse > limit + 1e-9
        note = ("worse by more than the tolerance" if regressed
                else "within the runs' combined ±" if worse > 0 and worse <= cmp.combined_resolution + 1e-9
                else "within tolerance" if worse > 0 else "no worse")
        out.append(Comparison(name, b, n, tol, regressed=regressed, compared=True, note=note))
    return out


def regressions(comparisons: Iterable[Comparison]) -> list[Comparison]:
    return [c for c in comparisons if c.regressed]


def median_figures(runs: Sequence[Mapping[str, Figure]]) -> dict[str, Figure]:
    """Each figure's median over several runs (those that measured it), with the largest resolution."""
    out: dict[str, Figure] = {}
    for name in FIGURES:
        present = [r[name] for r in runs if name in r and r[name].value is not None]
        if not present:
            continue
        values = sorted(f.value for f in present if f.value is not None)
        out[name] = Figure(float(statistics.median(values)), max(f.resolution for f in present))
    return out


def locust_p99_resolution(ms: float) -> float:
    """± of a Locust percentile (ms → seconds): Locust rounds response times to 2 significant digits
    above 100 ms (to 10 ms up to 1 s, 100 ms up to 10 s, 1 s beyond), so a p99 is known to half a bucket."""
    if ms < 100:
        return 0.0005
    if ms < 1000:
        return 0.005
    if ms < 10000:
        return 0.05
    return 0.5
