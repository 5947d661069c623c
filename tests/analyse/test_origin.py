"""Timing from the fault that matters (issue 17): objectives name their origin; windows list their faults."""
import math

import pytest
from support import run_cli, write

from chaosrunner import api
from chaosrunner.analyse.failover import failover_results, failover_verdicts
from chaosrunner.analyse.judge import worst_of
from chaosrunner.analyse.recovery import recovery_results, rto_verdicts, window_faults
from chaosrunner.analyse.verdict import Status
from chaosrunner.errors import ConfigError, PlanError
from chaosrunner.timeline import EventKind, Timeline, fault_windows

from .synthetic import sample_probe

INTERVAL = 0.25


def wal_then_kill():
    """The issue's PostgreSQL run: WAL sender frozen at 10 s, primary killed at 12 s, standby serving at 13.1 s."""
    tl = Timeline()
    for fid, step, t in (("f1", "freeze-wal", 10.0), ("f2", "kill-primary", 12.0)):
        tl.event(EventKind.FAULT_INJECTED, t=t, fault_id=fid, target="pg1", type="process", step=step)
    for fid, back in (("f1", 30.0), ("f2", 30.0)):
        tl.event(EventKind.FAULT_REVERTED, t=back, fault_id=fid, target="pg1", type="process")
    sample_probe(tl, "api", 60.0, lambda t: not 12.0 <= t < 13.1)
    sample_probe(tl, "db-role", 60.0, lambda t: True, offset=0.1, role=lambda t: "pg1" if t < 13.1 else "pg2")
    return tl


def test_failover_and_rto_are_timed_from_the_named_fault():
    tl = wal_then_kill()
    [window] = fault_windows(tl.events)
    faults = window_faults(tl.events, window)
    assert [(f["fault_id"], f["step"], f["offset"]) for f in faults] == [("f1", "freeze-wal", 0.0),
                                                                         ("f2", "kill-primary", 2.0)]
    [merged] = failover_results(tl.samples, tl.events, "db-role", ["api"], INTERVAL)
    [kill] = failover_results(tl.samples, tl.events, "db-role", ["api"], INTERVAL, origin="kill-primary")
    assert merged.failover_time == pytest.approx(3.35)          # from the window's first fault: 13.35 - 10
    assert kill.failover_time == pytest.approx(1.35)            # from the kill: the failover that matters
    assert kill.origin_at == 12.0 and kill.to_dict()["origin"] == "kill-primary"
    [v] = failover_verdicts([kill], 2.0)
    assert v.status is Status.PASSED and "timed from kill-primary (+2s after t0)" in v.detail
    assert failover_verdicts([merged], 2.0)[0].status is Status.FAILED
    [by_id] = recovery_results(tl.samples, tl.events, ["api", "db-role"], INTERVAL, 3.0, origin="f2")
    [from_t0] = recovery_results(tl.samples, tl.events, ["api", "db-role"], INTERVAL, 3.0)
    assert from_t0.recovery_time - by_id.recovery_time == pytest.approx(2.0)
    assert by_id.origin == "f2" and by_id.origin_at == 12.0


def test_a_window_without_the_named_fault_is_skipped_and_none_is_not_measured():
    tl = wal_then_kill()
    tl.event(EventKind.FAULT_INJECTED, t=40.0, fault_id="f3", target="api", type="latency", step="slow-api")
    tl.event(EventKind.FAULT_REVERTED, t=45.0, fault_id="f3", target="api", type="latency")
    results = recovery_results(tl.samples, tl.events, ["api"], INTERVAL, 3.0, origin="kill-primary")
    first, second = rto_verdicts(results, 30.0)
    assert first.status is Status.PASSED and second.status is Status.SKIPPED
    nowhere = recovery_results(tl.samples, tl.events, ["api"], INTERVAL, 3.0, origin="nope")
    [v] = rto_verdicts(nowhere, 30.0)
    assert v.status is Status.UNKNOWN and "never injected" in v.detail


def test_the_worst_window_is_the_one_judged():
    windows = [{"window": 0, "detection_time": 0.5, "recovery_time": 2.0, "recovered": True},
               {"window": 1, "detection_time": 0.25, "recovery_time": 7.5, "recovered": True},
               {"window": 2, "detection_time": 1.0, "recovery_time": None, "recovered": False}]
    worst = worst_of(windows)
    assert worst["detection_time"] == {"window": 2, "value": 1.0, "unbounded": False}
    assert worst["recovery_time"] == {"window": 2, "value": None, "unbounded": True}
    assert worst_of(windows[:2])["recovery_time"]["value"] == 7.5
    assert not math.isinf(worst_of(windows[:2])["recovery_time"]["value"])


EXPERIMENT = """\
name: origin
targets: inv.yaml
steady_state:
  - probe: {{type: http, name: health, url: "http://127.0.0.1:9/health"}}
method:
  - action: {{type: network, name: cut-db, target: db, operation: partition, duration: 1s}}
objectives:
  rto: {{within: 30s, from: {origin}}}
"""
INV = """\
targets:
  db:
    toxiproxy: {api: "http://127.0.0.1:9", proxy: db}
"""


@pytest.mark.parametrize("origin, message", [
    ("cut-bd", "objectives.rto.from names 'cut-bd'"),      # a typo of the action's name
    ("f7", "objectives.rto.from names fault 'f7'"),         # a fault id the plan does not have
])
def test_a_from_that_names_nothing_is_exit_2_with_its_line_and_a_fix(tmp_path, origin, message):
    write(tmp_path / "inv.yaml", INV)
    path = write(tmp_path / "exp.yaml", EXPERIMENT.format(origin=origin))
    with pytest.raises((ConfigError, PlanError)) as info:
        api.validate(path)
    text = str(info.value)
    assert message in text and "exp.yaml:8" in text and "hint:" in text, text
    r = run_cli("validate", str(path))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_from_that_names_an_action_or_a_fault_id_validates(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    for origin in ("cut-db", "f1"):
        [v] = api.validate(write(tmp_path / "exp.yaml", EXPERIMENT.format(origin=origin)))
        assert v.plan is not None
        assert v.plan.experiment.model.objectives.rto_from == origin
        assert v.plan.experiment.model.objectives.rto_within == 30.0
