"""The seed's risk score (§15.2) from what experiments measured: pure functions over run records.

The seed's ``RiskScorer`` weighs five risks, each 0.1 (low) … 1.0 (high):
``(availability·w + performance·w + security·w + capacity·w + dependency·w) / 5``. Experiments
measure three of them; the score here is the weighted mean of the measured ones,
``Σ wᵢ·rᵢ / Σ wᵢ`` with every weight 1 (the seed's formula when all five are measured):

- **availability** from the share of time in SLO: over the newest run of every experiment,
  ``uptime = 100 × (1 − Σ time out of SLO / Σ run duration)``, where time out of SLO is each fault
  window's time with a steady-state probe failing; then the seed's own ``availability_risk``:
  ≥ 99.99 % → 0.1, ≥ 99.9 % → 0.3, ≥ 99 % → 0.6, ≥ 95 % → 0.8, else 1.0;
- **performance** from p99 against its threshold: the worst ratio ``p99 in the fault window /
  threshold`` (the experiment's ``objectives.slo.p99``, else its ``p99_latency`` probe's threshold)
  over those runs: ≤ 0.5 → 0.1, ≤ 0.8 → 0.3, ≤ 1 → 0.6, ≤ 1.5 → 0.8, else 1.0;
- **dependency** from the external-dependency experiments (tagged ``dependency``): their share of
  time in SLO, on the availability scale;
- **security** and **capacity** need figures no experiment measures (failed-auth rate, resource
  utilisation): shown as not measured, and left out of the mean.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from chaosrunner import units
from chaosrunner.results.record import RunRecord

AVAILABILITY_STEPS = ((99.99, 0.1), (99.9, 0.3), (99.0, 0.6), (95.0, 0.8))
PERFORMANCE_STEPS = ((0.5, 0.1), (0.8, 0.3), (1.0, 0.6), (1.5, 0.8))
COMPONENTS = ("availability", "performance", "security", "capacity", "dependency")
DEPENDENCY_TAG = "dependency"
FORMULA = "risk score = Σ wᵢ·rᵢ / Σ wᵢ over the measured components (wᵢ = 1; seed §15.2 divides by 5 with all five)"


def availability_risk(uptime: float) -> float:
    """The seed's ``availability_risk`` (uptime in percent)."""
    return next((r for bound, r in AVAILABILITY_STEPS if uptime >= bound), 1.0)


def performance_risk(ratio: float) -> float:
    """p99 / threshold → risk."""
    return next((r for bound, r in PERFORMANCE_STEPS if ratio <= bound), 1.0)


@dataclass(frozen=True)
class Component:
    name: str
    risk: float | None                 # None: not measured
    figure: str                        # what was measured, in words
    runs: tuple[str, ...] = ()         # the run ids it comes from


@dataclass(frozen=True)
class RiskScore:
    value: float | None                # 0.1 (low risk) … 1.0; None: nothing measured
    components: tuple[Component, ...]
    formula: str = FORMULA


def time_in_slo(records: Iterable[RunRecord]) -> tuple[float, float]:
    """(seconds in SLO, seconds observed) over ``records``."""
    inside = total = 0.0
    for rec in records:
        duration = rec.duration_s
        if duration is None or not math.isfinite(duration) or duration <= 0:
            continue
        out = sum(w.out_of_slo for w in rec.measurements.windows
                  if w.out_of_slo is not None and math.isfinite(w.out_of_slo))
        total += duration
        inside += max(0.0, duration - min(out, duration))
    return inside, total


def p99_threshold(record: RunRecord) -> float | None:
    """The p99 bound in seconds: ``objectives.slo.p99``, else a ``p99_latency`` metric probe's threshold."""
    slo = record.experiment.objectives.slo or {}
    candidates: list[object] = [slo.get("p99")]
    for entry in record.experiment.raw.get("steady_state") or []:
        probe = entry.get("probe") if isinstance(entry, dict) else None
        if isinstance(probe, dict) and probe.get("type") == "metric" and probe.get("name") == "p99_latency":
            candidates.append(probe.get("threshold"))
    for value in candidates:
        if value is None:
            continue
        try:
            seconds = units.parse_duration(value) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            continue
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    return None


def fault_p99(record: RunRecord) -> float | None:
    """p99 in the fault window, milliseconds."""
    fault = (record.measurements.slo or {}).get("fault")
    value = fault.p99 if fault is not None else None
    return value if value is not None and math.isfinite(value) else None


def _uptime_component(name: str, records: list[RunRecord], what: str) -> Component:
    inside, total = time_in_slo(records)
    if total <= 0:
        return Component(name, None, f"not measured ({what})")
    uptime = 100.0 * inside / total
    return Component(name, availability_risk(uptime),
                     f"{uptime:.2f}% of {units.format_duration(total)} in SLO ({what})",
                     tuple(r.run_id for r in records))


def risk_score(latest: Iterable[RunRecord]) -> RiskScore:
    """The risk score of the newest run of each experiment (``latest``)."""
    records = sorted(latest, key=lambda r: r.experiment.name)
    availability = _uptime_component("availability", records, f"newest run of {len(records)} experiments")
    ratios = []
    for rec in records:
        bound, p99 = p99_threshold(rec), fault_p99(rec)
        if bound is not None and p99 is not None:
            ratios.append((p99 / (bound * 1000.0), rec, p99, bound))
    if ratios:
        ratio, rec, p99, bound = max(ratios, key=lambda x: x[0])
        performance = Component("performance", performance_risk(ratio),
                                f"worst p99 {p99:.0f} ms vs threshold {units.format_duration(bound)} "
                                f"({ratio:.2f}×, {rec.experiment.name})", tuple(r.run_id for _, r, _, _ in ratios))
    else:
        performance = Component("performance", None, "not measured (no run with a p99 threshold and load)")
    deps = [r for r in records if DEPENDENCY_TAG in (r.experiment.raw.get("tags") or [])]
    dependency = _uptime_component("dependency", deps, f"{len(deps)} experiment tagged {DEPENDENCY_TAG}"
                                   if deps else f"no experiment tagged {DEPENDENCY_TAG}")
    security = Component("security", None, "not measured (failed-auth rate: no experiment measures it)")
    capacity = Component("capacity", None, "not measured (resource utilisation: no experiment measures it)")
    parts = (availability, performance, security, capacity, dependency)
    measured = [c.risk for c in parts if c.risk is not None]
    value = round(sum(measured) / len(measured), 3) if measured else None
    return RiskScore(value, parts)
