"""Recovery seen by the load (issue 17): when every request started succeeding again, per endpoint and overall."""
import math

import pytest

from chaosrunner.analyse.users import users_recovery
from chaosrunner.timeline import FaultWindow, LoadStat
from chaosrunner.traffic.stats import SecondMerger


def second(t, name, n, failures=0, ff=None, lf=None, fo=None, oal=None):
    return LoadStat(t, name, n, failures, float(n), 5.0, 9.0, 12.0, first_failure=ff, last_failure=lf, first_ok=fo,
                    first_ok_after_failure=oal)


def load(fail_from, fail_until, until=30, rate=50, names=("GET /a", "GET /b")):
    """``rate`` requests/s per endpoint; requests of GET /a fail in [fail_from, fail_until)."""
    out = []
    for s in range(until):
        t = s + 1.0
        rows = []
        for name in names:
            starts = [s + k / rate for k in range(rate)]
            bad = [x for x in starts if name == "GET /a" and fail_from <= x < fail_until]
            good = [x for x in starts if x not in bad]
            after = [x for x in good if bad and x > max(bad)]
            rows.append(second(t, name, rate, len(bad), min(bad, default=None), max(bad, default=None),
                               min(good, default=None), min(after, default=None)))
        total = sum(r.requests for r in rows)
        fails = [r for r in rows if r.failures]
        lf = max((r.last_failure for r in fails), default=None)
        oks = [x for r in rows for x in (r.first_ok, r.first_ok_after_failure) if x is not None and lf is not None
               and x > lf]
        rows.append(second(t, "Aggregated", total, sum(r.failures for r in rows),
                           min((r.first_failure for r in fails), default=None), lf,
                           min(r.first_ok for r in rows if r.first_ok is not None), min(oks, default=None)))
        out += rows
    return out


W = [FaultWindow(0, 10.0, 15.0, ("f1",), ("db",))]


def test_users_recover_at_the_last_failed_request():
    [u] = users_recovery(load(10.5, 13.25), W)
    assert u.overall.affected and u.overall.recovered
    assert u.overall.recovered_at == pytest.approx(13.24)              # the last failed request started then
    assert u.overall.recovery_time == pytest.approx(3.24)
    assert u.overall.first_ok_after == pytest.approx(13.26)
    assert u.overall.resolution == pytest.approx(1 / 100)              # two endpoints at 50/s each
    a, b = u.endpoints
    assert a.name == "GET /a" and a.affected and a.recovery_time == pytest.approx(3.24)
    assert a.resolution == pytest.approx(1 / 50)
    assert b.name == "GET /b" and not b.affected and b.recovery_time == 0.0


def test_users_not_affected_or_never_recovered():
    [calm] = users_recovery(load(100, 101), W)
    assert not calm.overall.affected and calm.overall.recovery_time == 0.0
    [down] = users_recovery(load(10.5, 99), W)
    assert down.overall.affected and not down.overall.recovered and math.isinf(down.overall.recovery_time)
    assert down.to_dict()["overall"]["recovery_time"] is None


def test_each_window_is_judged_on_its_own_failures():
    windows = [FaultWindow(0, 5.0, 7.0, ("f1",), ("db",)), FaultWindow(1, 20.0, 22.0, ("f2",), ("db",))]
    stats = [s for s in load(5.2, 6.0) if s.t <= 15] + [s for s in load(20.1, 23.5) if s.t > 15]
    first, later = users_recovery(stats, windows)
    assert first.overall.recovery_time == pytest.approx(0.98)               # last failed request at 5.98
    assert later.overall.recovery_time == pytest.approx(3.48)


def test_the_merger_keeps_the_last_failure_and_the_first_success_after_it_across_processes():
    emitted = []
    merger = SecondMerger(lambda sec, stats, lag: emitted.extend(stats), to_run_clock=lambda m: m - 1000.0)
    # process 1 failed last at 1010.40 and succeeded at 1010.45; process 2 failed at 1010.60, ok from 1010.70
    merger.add({"pid": 1, "sec": 1010, "stats": {"GET /a": [10, 2, 50.0, 9.0, [[50, 10]], 1010.1, 1010.4, 1010.0,
                                                              1010.45]}})
    merger.add({"pid": 2, "sec": 1010, "stats": {"GET /a": [10, 1, 50.0, 9.0, [[50, 10]], 1010.6, 1010.6, 1010.2,
                                                              1010.7]}})
    merger.poll(0.0, {1, 2})
    [a, agg] = emitted
    assert (a.first_failure, a.last_failure, a.first_ok) == pytest.approx((10.1, 10.6, 10.0))
    assert a.first_ok_after_failure == pytest.approx(10.7)
    assert agg.name == "Aggregated" and agg.last_failure == pytest.approx(10.6)
    # a record from an older plugin (no instants) still merges
    merger.add({"pid": 1, "sec": 1011, "stats": {"GET /a": [3, 0, 9.0, 3.0, [[30, 3]]]}})
    merger.poll(0.0, {1})
    assert emitted[-1].last_failure is None and emitted[-1].requests == 3
