"""The run record carries every window's figures (issue 17): faults and offsets, origin, users, writes, worst."""
import jsonschema
import pytest

from chaosrunner.analyse.judge import Analysis
from chaosrunner.model.experiment import Experiment
from chaosrunner.results import RunRecord
from chaosrunner.results.document import measurements_record
from chaosrunner.timeline import EventKind, LoadStat, Sample, Timeline, WriteRecord

MODEL = {"name": "two-windows",
         "steady_state": [{"probe": {"type": "http", "name": "api", "url": "http://127.0.0.1:9/"}}],
         "load": {"http": {"host": "http://127.0.0.1:9", "paths": ["/a"]}, "users": 2},
         "writer": {"type": "http", "url": "http://127.0.0.1:9/w", "rate": "20/s"},
         "method": [{"action": {"type": "network", "name": "cut", "target": "db", "operation": "partition",
                                "duration": "1s"}}],
         "objectives": {"rto": {"within": "30s", "from": "cut"}, "rpo": "1s"},
         "sampling": {"interval": "250ms", "stable_for": "1s"}}


def timeline():
    tl = Timeline()
    # window 1: f1 (freeze) at 10 s, f2 "cut" at 11 s; window 2: f3 "cut" at 30 s; the api fails for 2 s after each cut
    for fid, step, t, back in (("f1", None, 10.0, 14.0), ("f2", "cut", 11.0, 14.0), ("f3", "cut", 30.0, 32.0)):
        tl.event(EventKind.FAULT_INJECTED, t=t, fault_id=fid, target="db", type="network", step=step)
        tl.event(EventKind.FAULT_REVERTED, t=back, fault_id=fid, target="db", type="network")
    down = lambda t: 11.0 <= t < 13.0 or 30.0 <= t < 35.0     # noqa: E731
    for k in range(200):
        t = k * 0.25
        tl.add_sample(Sample("api", t, t + 0.01, not down(t)))
    for s in range(50):
        bad = [x / 10 for x in range(s * 10, s * 10 + 10) if down(x / 10)]
        ok = [x / 10 for x in range(s * 10, s * 10 + 10) if not down(x / 10)]
        after = [x for x in ok if bad and x > max(bad)]
        for name in ("GET /a", "Aggregated"):
            tl.add_load_stat(LoadStat(s + 1.0, name, 10, len(bad), 10.0, 5.0, 9.0, 9.0,
                                      first_failure=min(bad, default=None), last_failure=max(bad, default=None),
                                      first_ok=min(ok, default=None), first_ok_after_failure=min(after, default=None)))
    for i in range(1000):
        t = i * 0.05
        tl.add_write(WriteRecord(i, f"k{i}", t, None if down(t) else t + 0.002, None if not down(t) else "refused",
                                 "present"))
    return tl


def test_each_window_carries_its_figures_and_the_worst_is_named():
    m = measurements_record(Analysis(Experiment.model_validate(MODEL), ["api"], timeline()))
    first, second = m.windows
    assert [(f.fault_id, f.step, f.offset) for f in first.faults] == [("f1", None, 0.0), ("f2", "cut", 1.0)]
    assert first.origin == "cut" and first.origin_at == 11.0 and second.origin_at == 30.0
    assert first.recovery_time == pytest.approx(2.0) and second.recovery_time == pytest.approx(5.0)
    assert first.users.overall.recovery_time == pytest.approx(2.9)            # last failed request at 12.9 s
    assert second.users.overall.recovery_time == pytest.approx(4.9)
    assert first.writes.first_ack_after_outage == pytest.approx(3.002) and first.writes.failed == 40
    assert m.worst["recovery_time"].window == 1 and m.worst["recovery_time"].value == pytest.approx(5.0)
    assert m.worst["users_recovery"].window == 1
    schema = RunRecord.run_record_schema()
    part = {"$defs": schema["$defs"], "$ref": "#/$defs/Measurements"}
    jsonschema.validate(m.model_dump(mode="json", by_alias=True), part)
