"""SLO windows and verdicts over synthetic timelines (pure functions)."""
from __future__ import annotations

import pytest

from chaosrunner.analyse.verdict import Status
from chaosrunner.analyse.slo import (
    SEED_THRESHOLDS,
    SloThresholds,
    combine_percentile,
    slo_verdicts,
    slo_windows,
    window_stats,
)
from chaosrunner.timeline import EventKind, LoadStat, Timeline


def stat(t: float, requests: int = 100, failures: int = 0, p50: float = 10, p95: float = 20, p99: float = 30,
         mx: float | None = None) -> LoadStat:
    return LoadStat(t=t, name="Aggregated", requests=requests, failures=failures, rps=float(requests), p50=p50,
                    p95=p95, p99=p99, avg=p50, max=mx if mx is not None else p99)


def timeline_with_fault(fault: tuple[float, float | None] = (10.0, 20.0)) -> Timeline:
    tl = Timeline(clock=lambda: 0.0)
    for t in range(1, 31):
        slow = fault[0] < t - 0.5 < (fault[1] or 99)
        tl.add_load_stat(stat(t, failures=5 if slow else 0, p50=300 if slow else 10, p95=700 if slow else 20,
                              p99=900 if slow else 30))
        tl.add_load_stat(LoadStat(t=t, name="GET /a", requests=100, failures=0, rps=100, p50=1, p95=1, p99=1))
    tl.event(EventKind.FAULT_INJECTED, t=fault[0], fault_id="f1", target="db", type="latency")
    if fault[1] is not None:
        tl.event(EventKind.FAULT_REVERTED, t=fault[1], fault_id="f1", target="db", type="latency")
    return tl


def test_homogeneous_seconds_combine_exactly() -> None:
    rows = [stat(t) for t in range(1, 6)]
    assert combine_percentile(rows, 0.5) == 10
    assert combine_percentile(rows, 0.95) == 20
    assert combine_percentile(rows, 0.99) == 30


def test_one_slow_second_weighs_by_its_requests() -> None:
    rows = [stat(1, requests=990, p50=10, p95=10, p99=10, mx=10), stat(2, requests=10, p50=1000, p95=1000,
                                                                       p99=1000, mx=1000)]
    # 1 % of all requests were slow: p99 sits at the boundary, p95 does not see them
    assert combine_percentile(rows, 0.95) == 10
    assert combine_percentile(rows, 0.995) == 1000
    assert combine_percentile([], 0.5) is None
    assert combine_percentile([stat(1, requests=0)], 0.5) is None


def test_windows_split_by_fault_events() -> None:
    w = slo_windows(timeline_with_fault())
    assert set(w) == {"baseline", "fault", "recovery"}
    assert w["baseline"].seconds == 10 and w["fault"].seconds == 10 and w["recovery"].seconds == 10
    assert w["baseline"].p99 == 30 and w["fault"].p99 == 900 and w["recovery"].p99 == 30
    assert w["fault"].error_rate == pytest.approx(0.05) and w["baseline"].error_rate == 0
    assert w["fault"].rps == 100
    d = w["fault"].to_dict()
    assert d["span"] == [10.0, 20.0] and d["p99"] == 900


def test_seed_thresholds_fail_during_the_fault_and_hold_after() -> None:
    verdicts = {v.name: v for v in slo_verdicts(timeline_with_fault(), SEED_THRESHOLDS)}
    assert verdicts["slo p99 (fault)"].status is Status.FAILED
    assert verdicts["slo p99 (recovery)"].status is Status.PASSED
    assert verdicts["slo p99 (baseline)"].status is Status.PASSED
    assert verdicts["slo error_rate (fault)"].status is Status.FAILED
    assert verdicts["slo p99 (fault)"].measured == "900ms" and verdicts["slo p99 (fault)"].expected == "< 500ms"
    assert verdicts["slo p99 (fault)"].value == pytest.approx(0.9)
    assert all(v.kind == "slo" for v in verdicts.values())


def test_unreverted_fault_has_no_recovery_window() -> None:
    tl = timeline_with_fault((10.0, None))
    assert set(slo_windows(tl)) == {"baseline", "fault"}
    verdicts = {v.name: v for v in slo_verdicts(tl, {"p99": "500ms", "rps_min": 50})}
    assert verdicts["slo p99 (recovery)"].status is Status.UNKNOWN
    assert verdicts["slo rps (fault)"].status is Status.PASSED


def test_thresholds_parse_units_and_reject_unknown_keys() -> None:
    th = SloThresholds.parse({"p95": "200ms", "error_rate": "1%", "rps_min": 10})
    assert th.p95 == pytest.approx(0.2) and th.error_rate == pytest.approx(0.01) and th.rps_min == 10
    with pytest.raises(ValueError, match="p999"):
        SloThresholds.parse({"p999": "1s"})


def test_sliding_window_takes_the_last_seconds() -> None:
    tl = timeline_with_fault()
    ws = window_stats(tl, 5.0, now=20.0)
    assert ws.seconds == 5 and ws.p50 == 300
    assert window_stats(tl, 5.0, now=100.0).seconds == 0


def test_seconds_straddling_a_boundary_count_in_no_window() -> None:
    """Requests sent just before the revert finish just after it: that second is a transition."""
    tl = Timeline(clock=lambda: 0.0)
    for t in range(1, 21):
        # the fault runs 5.5 .. 12.5; the seconds ending at 6 and 13 straddle its edges and are slow
        slow = 6 <= t <= 13
        tl.add_load_stat(stat(t, p50=300 if slow else 10, p95=300 if slow else 20, p99=300 if slow else 30))
    tl.event(EventKind.FAULT_INJECTED, t=5.5, fault_id="f1", target="db", type="latency")
    tl.event(EventKind.FAULT_REVERTED, t=12.5, fault_id="f1", target="db", type="latency")
    w = slo_windows(tl)
    assert w["baseline"].seconds == 5 and w["fault"].seconds == 6 and w["recovery"].seconds == 7
    assert w["recovery"].p99 == 30 and w["baseline"].p99 == 30 and w["fault"].p99 == 300


def test_seconds_without_p99_leave_the_p99_verdict_unknown_not_judged_on_p95() -> None:
    # an attached Locust master reports p50/p95 but no p99: its rows carry p99=None
    tl = Timeline(clock=lambda: 0.0)
    for t in range(1, 11):
        tl.add_load_stat(LoadStat(t=t, name="Aggregated", requests=50, failures=0, rps=50.0, p50=10, p95=100,
                                  p99=None))
    [window] = slo_windows(tl).values()
    assert window.p95 == 100 and window.p99 is None
    verdicts = {v.name: v for v in slo_verdicts(tl, {"p95": "200ms", "p99": "150ms"})}
    assert verdicts["slo p95 (baseline)"].status is Status.PASSED
    p99 = verdicts["slo p99 (baseline)"]
    assert p99.status is Status.UNKNOWN and p99.value is None
    assert "does not report p99" in p99.detail
