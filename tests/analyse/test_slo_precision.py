"""SLO verdicts state their precision: per-second statistics put a window's edges at ±1 s."""
from chaosrunner.analyse.verdict import Status
from chaosrunner.analyse.slo import WINDOW_EDGE, judge, summarize
from chaosrunner.report._view import precision_text
from chaosrunner.timeline import LoadStat


def second(t, p99=120.0):
    return LoadStat(float(t), "Aggregated", 100, 0, 100.0, 30.0, 80.0, p99)


def test_slo_verdicts_carry_precision_and_say_how_the_percentile_was_estimated():
    windows = {"fault": summarize("fault", [second(t) for t in range(1, 11)])}
    verdicts = {v.name: v for v in judge(windows, {"p99": "500ms", "error_rate": "1%"}, names=("fault",))}
    p99, err = verdicts["slo p99 (fault)"], verdicts["slo error_rate (fault)"]
    assert p99.status is Status.PASSED and p99.precision == WINDOW_EDGE == 1.0
    assert "window edges ±1s" in p99.detail and "estimated from per-second percentiles" in p99.detail
    assert err.precision == 1.0 and "window edges ±1s" in err.detail
    assert "estimated from per-second percentiles" not in err.detail
    assert precision_text(p99) == "±1s window edges"


def test_an_slo_window_without_requests_has_no_precision_and_is_unknown():
    (v,) = judge({}, {"p99": "500ms"}, names=("recovery",))
    assert v.status is Status.UNKNOWN and v.precision is None and precision_text(v) == "—"
