"""The ± of detection, recovery, failover and failback is the one the samples achieved
(``analyse.resolution``), not the configured interval: with adaptive sampling a run is sampled every
250 ms while healthy and every 25 ms around the fault, and the figures say ± 25 ms."""
from __future__ import annotations

import pytest

from chaosrunner.analyse.failover import failover_results, failover_verdicts
from chaosrunner.analyse.recovery import recovery_results, rto_verdicts
from chaosrunner.analyse.resolution import achieved
from chaosrunner.timeline import Sample, Timeline

from .synthetic import fault


def adaptive(tl: Timeline, probe: str, until: float, ok, fine_spans, role=None, interval=0.25, fine=0.025) -> None:
    """Samples on the interval grid, and on the fine grid inside ``fine_spans`` (as the sampler does)."""
    starts = {round(k * interval, 6) for k in range(int(until / interval) + 1)}
    for lo, hi in fine_spans:
        starts |= {round(lo + j * fine, 6) for j in range(int((hi - lo) / fine) + 1)}
    for t in sorted(x for x in starts if x < until):
        good = ok(t)
        tl.add_sample(Sample(probe, t, t + 0.005, good, None, None if good else "HTTP 503", role(t) if role else None))


def test_achieved_is_the_gap_to_the_last_not_yet_sample_bounded_by_the_origin():
    assert achieved(1.0, [0.5, 0.975, 1.2], default=0.25) == pytest.approx(0.025)
    assert achieved(1.0, [0.5], floor=0.99, default=0.25) == pytest.approx(0.01)
    assert achieved(1.0, [], default=0.25) == 0.25


def test_recovery_and_detection_say_the_fine_resolution_they_achieved():
    tl = Timeline()
    # fault at 2.01 (between interval samples), down until 9.01; fine after the inject and while failing
    fault(tl, "f", 2.01, 9.2)
    adaptive(tl, "health", 16.0, lambda t: not 2.01 <= t < 9.01, [(2.0, 4.0), (9.0, 12.5)])
    [res] = recovery_results(tl.samples, tl.events, ["health"], 0.25, 3.0)
    assert res.recovery_time == pytest.approx(7.015, abs=1e-6)      # 9.025 − 2.01
    assert res.resolution == pytest.approx(0.025)                  # not the 250 ms interval
    assert res.first_failure["resolution"] == pytest.approx(0.015)  # 2.025 − t0 (2.01)
    [v] = rto_verdicts([res], 10.0)
    assert v.precision == pytest.approx(0.025) and "± 25ms" in v.measured, v.measured
    assert "detected after 15ms ± 15ms" in v.detail, v.detail


def test_without_fine_samples_the_resolution_is_the_interval():
    tl = Timeline()
    fault(tl, "f", 2.01, 9.2)
    adaptive(tl, "health", 16.0, lambda t: not 2.01 <= t < 9.01, [])
    [res] = recovery_results(tl.samples, tl.events, ["health"], 0.25, 3.0)
    assert res.resolution == pytest.approx(0.25)


def test_failover_and_failback_say_the_resolution_they_achieved():
    tl = Timeline()
    fault(tl, "f", 1.0, 6.0)

    def role(t: float) -> str:
        return "b" if 3.0 <= t < 7.0 else "a"

    adaptive(tl, "primary", 12.0, lambda t: not 1.0 <= t < 3.0, [(1.0, 4.0), (6.0, 8.0)], role=role)
    [res] = failover_results(tl.samples, tl.events, "primary", ["primary"], 0.25)
    assert res.failover_time == pytest.approx(2.0)
    assert res.resolution == pytest.approx(0.025)
    assert res.failback_time == pytest.approx(1.0)
    assert res.failback_resolution == pytest.approx(0.025)
    [v] = failover_verdicts([res], 5.0)
    assert v.precision == pytest.approx(0.025)
