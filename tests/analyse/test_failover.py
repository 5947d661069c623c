import math

import pytest

from chaosrunner.analyse.failover import (failback_verdicts, failover_results, failover_verdicts,
                                          split_brain_verdict)
from chaosrunner.analyse.verdict import Status
from chaosrunner.timeline import Timeline

from .synthetic import fault, sample_probe

INTERVAL = 0.25


def measure(tl, steady=("api",)):
    return failover_results(tl.samples, tl.events, "db-role", list(steady), INTERVAL)


def role_timeline(role, api_ok=lambda t: True, role_ok=None, end=60.0, faults=((10.0, 12.0),)):
    tl = Timeline()
    for i, (a, b) in enumerate(faults):
        fault(tl, f"f{i}", a, b)
    sample_probe(tl, "api", end, api_ok)
    sample_probe(tl, "db-role", end, role_ok or (lambda t: role(t) is not None and "," not in role(t)),
                 offset=0.1, role=role)
    return tl


def test_failover_time_needs_new_primary_and_steady_state():
    # the standby is promoted at 15 s, but the API is only healthy again at 18 s
    tl = role_timeline(lambda t: "pg1" if t < 12.0 else (None if t < 15.0 else "pg2"),
                       api_ok=lambda t: not (10.0 <= t < 18.0))
    (res,) = measure(tl)
    assert res.primary_before == "pg1" and res.new_primary == "pg2" and res.failed_over
    assert res.failover_at == pytest.approx(18.1)
    assert res.failover_time == pytest.approx(8.1)
    assert not res.failed_back and math.isinf(res.failback_time)
    (v,) = failover_verdicts([res], 30.0)
    assert v.status is Status.PASSED and v.value == pytest.approx(8.1)
    assert failover_verdicts([res], 5.0)[0].status is Status.FAILED
    assert failback_verdicts([res], 60.0)[0].status is Status.FAILED
    assert split_brain_verdict(tl.samples, "db-role").status is Status.PASSED


def test_no_failover():
    tl = role_timeline(lambda t: "pg1", api_ok=lambda t: not (10.0 <= t < 14.0))
    (res,) = measure(tl)
    assert not res.failed_over and math.isinf(res.failover_time) and "stayed primary" in res.note
    (v,) = failover_verdicts([res], 30.0)
    assert v.status is Status.FAILED and v.measured == "no failover happened"
    assert failback_verdicts([res], 30.0)[0].status is Status.UNKNOWN


def test_failover_without_steady_state_never_completes():
    tl = role_timeline(lambda t: "pg1" if t < 12.0 else "pg2", api_ok=lambda t: t < 10.0)
    (res,) = measure(tl)
    assert res.failed_over and math.isinf(res.failover_time)
    assert failover_verdicts([res], 30.0)[0].measured.startswith("never completed")


def test_failback_measured_from_revert():
    def role(t):
        return "pg1" if t < 12.0 or t >= 31.0 else ("pg2" if t >= 13.0 else None)
    tl = role_timeline(role, faults=((10.0, 25.0),))
    (res,) = measure(tl)
    assert res.failover_time == pytest.approx(3.1)
    assert res.failed_back and res.failback_at == pytest.approx(31.1)
    assert res.failback_time == pytest.approx(6.1)
    assert failback_verdicts([res], 10.0)[0].status is Status.PASSED
    assert failback_verdicts([res], 5.0)[0].status is Status.FAILED


def test_split_brain_is_detected():
    def role(t):
        if t < 12.0:
            return "pg1"
        return "pg1,pg2" if t < 14.0 else "pg2"
    tl = role_timeline(role)
    (res,) = measure(tl)
    assert len(res.split_brain) == 8 and res.split_brain[0]["nodes"] == ["pg1", "pg2"]
    assert res.failover_time == pytest.approx(4.1)   # the split-brain samples are not a failover
    v = split_brain_verdict(tl.samples, "db-role")
    assert v.status is Status.FAILED and v.value == 8


def test_several_windows_and_no_baseline():
    def role(t):
        if t < 12.0:
            return "pg1"
        if t < 30.0:
            return "pg2"
        return "pg1" if t >= 33.0 else None
    tl = role_timeline(role, faults=((10.0, 11.0), (30.0, 31.0)))
    r1, r2 = measure(tl)
    assert (r1.primary_before, r1.new_primary) == ("pg1", "pg2") and r1.failover_time == pytest.approx(2.1)
    assert (r2.primary_before, r2.new_primary) == ("pg2", "pg1") and r2.failover_time == pytest.approx(3.1)
    assert [v.name for v in failover_verdicts([r1, r2], 5)] == ["failover (fault window 1)",
                                                                  "failover (fault window 2)"]
    tl2 = Timeline()
    fault(tl2, "f", 0.0, 1.0)
    sample_probe(tl2, "db-role", 10.0, lambda t: True, role=lambda t: "pg2")
    (r,) = failover_results(tl2.samples, tl2.events, "db-role", [], INTERVAL)
    assert not r.measured and failover_verdicts([r], 30)[0].status is Status.UNKNOWN


def test_no_fault_and_no_objective():
    tl = Timeline()
    sample_probe(tl, "db-role", 10.0, lambda t: True, role=lambda t: "pg1")
    assert measure(tl) == []
    assert failover_verdicts([], 30.0)[0].status is Status.SKIPPED
    assert failback_verdicts([], 30.0)[0].status is Status.SKIPPED
    assert failover_verdicts([], None) == [] and failback_verdicts([], None) == []
    assert split_brain_verdict([], "db-role").status is Status.UNKNOWN


def test_a_window_without_deviation_needs_no_failover():
    """Window 1 kills the primary (failover); window 2 is a harmless latency fault: RTO 0, nobody fails over."""
    def role(t):
        return "pg1" if t < 12.0 else "pg2"
    tl = role_timeline(role, api_ok=lambda t: not (10.0 <= t < 14.0), faults=((10.0, 11.0), (30.0, 31.0)))
    r1, r2 = measure(tl)
    assert r1.failed_over and r1.deviated and not r1.not_needed
    assert not r2.failed_over and not r2.deviated and r2.not_needed
    v1, v2 = failover_verdicts([r1, r2], 30.0)
    assert v1.status is Status.PASSED
    assert v2.name == "failover (fault window 2)" and v2.status is Status.SKIPPED
    assert v2.detail == "no deviation: no failover needed"
    f1, f2 = failback_verdicts([r1, r2], 30.0)
    assert f2.status is Status.SKIPPED and f1.status is Status.FAILED


def test_a_window_that_deviated_without_failover_still_fails():
    tl = role_timeline(lambda t: "pg1", api_ok=lambda t: not (30.0 <= t < 33.0), faults=((10.0, 11.0), (30.0, 31.0)))
    r1, r2 = measure(tl)
    assert r1.not_needed and not r2.not_needed
    v1, v2 = failover_verdicts([r1, r2], 30.0)
    assert v1.status is Status.SKIPPED
    assert v2.status is Status.FAILED and v2.measured == "no failover happened"


def test_no_window_deviated_so_failover_is_unknown():
    """A failover objective that no window exercised could not be measured: one UNKNOWN verdict."""
    tl = role_timeline(lambda t: "pg1", faults=((10.0, 11.0), (30.0, 31.0)))
    results = measure(tl)
    assert all(r.not_needed for r in results)
    (v,) = failover_verdicts(results, 30.0)
    assert v.name == "failover" and v.status is Status.UNKNOWN and v.kind == "objective"
    assert "never deviated in all 2 fault windows" in v.detail
    (b,) = failback_verdicts(results, 30.0)
    assert b.status is Status.UNKNOWN


def test_a_failed_role_sample_is_a_deviation():
    """The role probe is part of the steady state: a role sample that failed is a deviation."""
    tl = role_timeline(lambda t: "pg1", role_ok=lambda t: not (10.0 <= t < 11.0))
    (res,) = measure(tl)
    assert res.deviated and not res.not_needed
    assert failover_verdicts([res], 30.0)[0].status is Status.FAILED
