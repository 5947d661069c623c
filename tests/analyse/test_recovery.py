import math

import pytest

from chaosrunner.analyse.recovery import recovery_from_timeline, rto_verdicts
from chaosrunner.analyse.verdict import Status
from chaosrunner.timeline import Timeline

from .synthetic import fault, sample_probe

INTERVAL = 0.25


def measure(tl, probes=("api",), stable_for=3.0):
    return recovery_from_timeline(tl, list(probes), INTERVAL, stable_for)


def test_outage_of_known_length():
    tl = Timeline()
    fault(tl, "f1", 10.0, 12.0)
    sample_probe(tl, "api", 40.0, lambda t: not (10.0 <= t < 17.0))
    (res,) = measure(tl)
    assert res.detected and res.detection_time == 0.0
    assert res.recovered and res.recovery_time == pytest.approx(7.0)
    assert res.recovered_at == pytest.approx(17.0)
    assert res.out_of_slo == pytest.approx(7.0)
    assert res.deviations == 1 and not res.flapping and res.relapses == 0
    assert res.failed_samples == 28
    (v,) = rto_verdicts([res], 30.0)
    assert v.status is Status.PASSED and v.value == pytest.approx(7.0) and v.precision == INTERVAL
    assert "± 250ms" in v.measured
    assert rto_verdicts([res], 5.0)[0].status is Status.FAILED


def test_detection_lags_fault_and_offset_sampling():
    tl = Timeline()
    fault(tl, "f1", 10.0, None)
    # samples at 0.1 + k*0.25; the target fails from 11.0 to 14.0
    sample_probe(tl, "api", 30.0, lambda t: not (11.0 <= t < 14.0), offset=0.1)
    (res,) = measure(tl)
    assert res.detection_time == pytest.approx(1.1)
    assert res.recovery_time == pytest.approx(4.1)   # first ok sample at 14.1
    assert res.recovery_time - 4.0 <= INTERVAL


def test_no_deviation_is_zero():
    tl = Timeline()
    fault(tl, "f1", 5.0, 8.0)
    sample_probe(tl, "api", 20.0, lambda t: True)
    (res,) = measure(tl)
    assert not res.detected and res.detection_time is None
    assert res.recovered and res.recovery_time == 0.0 and res.out_of_slo == 0.0 and res.deviations == 0
    assert rto_verdicts([res], 0.5)[0].status is Status.PASSED


def test_late_failure_is_not_recovery_at_zero():
    tl = Timeline()
    fault(tl, "f1", 5.0, None)
    sample_probe(tl, "api", 40.0, lambda t: not (15.0 <= t < 25.0))   # fine for 10 s, then down 10 s
    (res,) = measure(tl)
    assert res.detection_time == pytest.approx(10.0)
    # the stable window before the first failure does not count: recovery is the first stable window
    # that starts after the first failed sample (a literal "first stable window after t0" would give 0 s)
    assert res.recovery_time == pytest.approx(20.0)
    assert res.recovered_at == pytest.approx(25.0)
    (v,) = rto_verdicts([res], 15.0)
    assert v.status is Status.FAILED


def test_never_recovered_is_unbounded_and_fails():
    tl = Timeline()
    fault(tl, "f1", 5.0, 10.0)
    sample_probe(tl, "api", 30.0, lambda t: t < 5.0)
    (res,) = measure(tl)
    assert not res.recovered and math.isinf(res.recovery_time) and res.recovered_at is None
    assert res.out_of_slo == pytest.approx(25.0)
    assert res.to_dict()["recovery_time"] is None and res.to_dict()["recovered"] is False
    (v,) = rto_verdicts([res], 60.0)
    assert v.status is Status.FAILED and "never recovered" in v.measured


def test_recovery_too_close_to_end_is_not_confirmed():
    tl = Timeline()
    fault(tl, "f1", 5.0, 10.0)
    sample_probe(tl, "api", 20.0, lambda t: not (5.0 <= t < 18.0))   # only 2 s of health observed
    (res,) = measure(tl)
    assert not res.recovered


def test_flapping_delays_recovery_until_it_stops():
    tl = Timeline()
    fault(tl, "f1", 10.0, 12.0)
    # down/up every second between 10 and 20, healthy afterwards
    sample_probe(tl, "api", 40.0, lambda t: not (10.0 <= t < 20.0 and int(t) % 2 == 0))
    (res,) = measure(tl)
    assert res.flapping and res.deviations == 5
    assert res.recovery_time == pytest.approx(9.0)     # 19.0: last ok run that lasts 3 s starts here
    assert res.out_of_slo == pytest.approx(5.0)


def test_relapse_after_recovery_is_reported():
    tl = Timeline()
    fault(tl, "f1", 10.0, 12.0)
    sample_probe(tl, "api", 40.0, lambda t: not (10.0 <= t < 12.0 or 20.0 <= t < 21.0))
    (res,) = measure(tl)
    assert res.recovery_time == pytest.approx(2.0)
    assert res.relapses == 1 and res.flapping
    assert "failed again" in res.note


def test_timeouts_count_as_failures():
    tl = Timeline()
    fault(tl, "f1", 10.0, 12.0)
    sample_probe(tl, "api", 40.0, lambda t: True, timeout_when=lambda t: 10.0 <= t < 13.0)
    (res,) = measure(tl)
    assert res.detected and res.detection_time == 0.0
    assert res.recovery_time == pytest.approx(3.0)
    assert "timed out" in res.first_failure["error"]


def test_every_probe_must_be_ok_and_sampled():
    tl = Timeline()
    fault(tl, "f1", 10.0, 12.0)
    sample_probe(tl, "api", 40.0, lambda t: not (10.0 <= t < 12.0))
    sample_probe(tl, "db", 40.0, lambda t: not (10.0 <= t < 15.0), offset=0.05)
    (res,) = measure(tl, ("api", "db"))
    assert res.recovery_time == pytest.approx(5.05)
    assert res.out_of_slo == pytest.approx(5.05)
    # a probe that is never sampled after the fault blocks recovery: nothing says it is ok
    tl2 = Timeline()
    fault(tl2, "f1", 10.0, 12.0)
    sample_probe(tl2, "api", 40.0, lambda t: not (10.0 <= t < 12.0))
    sample_probe(tl2, "db", 10.0, lambda t: True)
    (res2,) = measure(tl2, ("api", "db"))
    assert not res2.recovered


def test_several_fault_windows():
    tl = Timeline()
    fault(tl, "f1", 10.0, 11.0)
    fault(tl, "f2", 30.0, 31.0)
    fault(tl, "f3", 50.0, 51.0)
    down = lambda t: 10.0 <= t < 14.0 or 30.0 <= t < 36.5 or t >= 50.0  # noqa: E731
    sample_probe(tl, "api", 60.0, lambda t: not down(t))
    r1, r2, r3 = measure(tl)
    assert (r1.window, r2.window, r3.window) == (0, 1, 2)
    assert r1.recovery_time == pytest.approx(4.0) and r2.recovery_time == pytest.approx(6.5)
    assert not r3.recovered
    verdicts = rto_verdicts([r1, r2, r3], 5.0)
    assert [v.name for v in verdicts] == ["rto (fault window 1)", "rto (fault window 2)", "rto (fault window 3)"]
    assert [v.status for v in verdicts] == [Status.PASSED, Status.FAILED, Status.FAILED]


def test_not_recovered_before_the_next_fault():
    tl = Timeline()
    fault(tl, "f1", 10.0, 11.0)
    fault(tl, "f2", 20.0, 21.0)
    sample_probe(tl, "api", 40.0, lambda t: not (10.0 <= t < 18.0 or 20.0 <= t < 22.0))
    r1, r2 = measure(tl)
    assert not r1.recovered and "next fault" in r1.note
    assert r2.recovery_time == pytest.approx(2.0)


def test_no_fault_is_skipped_and_no_objective_is_no_verdict():
    """Nothing was injected, so nothing had to recover: the objective does not apply (not inconclusive)."""
    tl = Timeline()
    sample_probe(tl, "api", 10.0, lambda t: True)
    assert measure(tl) == []
    (v,) = rto_verdicts([], 30.0)
    assert v.status is Status.SKIPPED and "does not apply" in v.detail
    assert rto_verdicts([], None) == []


def test_no_samples_in_window_is_unknown():
    tl = Timeline()
    sample_probe(tl, "api", 5.0, lambda t: True)
    fault(tl, "f1", 10.0, 12.0)
    (res,) = recovery_from_timeline(tl, ["api"], INTERVAL, 3.0)
    assert not res.measured
    assert rto_verdicts([res], 30.0)[0].status is Status.UNKNOWN
