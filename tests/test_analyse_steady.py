"""Recovery and detection on synthetic timelines with known answers (pure functions)."""
import math

from chaosrunner.analyse.steady import detection_and_recovery, rto_verdict
from chaosrunner.timeline import EventKind, Sample, Timeline


def timeline(outage: tuple[float, float] | None, end: float = 20.0, interval: float = 0.25,
             probes=("a", "b"), fault=(2.0, 5.0)) -> Timeline:
    tl = Timeline()
    tl.event(EventKind.FAULT_INJECTED, t=fault[0], fault_id="f1", target="x", type="process")
    tl.event(EventKind.FAULT_REVERTED, t=fault[1], fault_id="f1", target="x", type="process")
    k = 0
    while k * interval <= end:
        t = k * interval
        for p in probes:
            bad = outage is not None and outage[0] <= t < outage[1] and p == "a"
            tl.add_sample(Sample(p, t, t + 0.01, not bad, None, "down" if bad else None))
        k += 1
    return tl


def test_known_outage():
    tl = timeline((2.5, 9.0))
    detection, recovery = detection_and_recovery(tl, ["a", "b"], 2.0, 3.0)
    assert detection == 0.5 and recovery == 7.0
    v = rto_verdict(tl, ["a", "b"], 10.0, 0.25, 3.0)
    assert v.status.value == "passed" and v.value == 7.0 and v.precision == 0.25
    assert rto_verdict(tl, ["a", "b"], 5.0, 0.25, 3.0).status.value == "failed"


def test_no_deviation_is_zero():
    assert detection_and_recovery(timeline(None), ["a", "b"], 2.0, 3.0) == (None, 0.0)


def test_never_recovered_is_unbounded():
    tl = timeline((2.5, 100.0))
    _, recovery = detection_and_recovery(tl, ["a", "b"], 2.0, 3.0)
    assert math.isinf(recovery)
    v = rto_verdict(tl, ["a", "b"], 30.0, 0.25, 3.0)
    assert v.status.value == "failed" and v.measured == "never recovered"


def test_flapping_needs_a_whole_stable_window():
    tl = Timeline()
    tl.event(EventKind.FAULT_INJECTED, t=0.0, fault_id="f1", target="x", type="t")
    pattern = [False] * 4 + [True] * 3 + [False] + [True] * 20          # one relapse at 7 × 0.5s
    for k, ok in enumerate(pattern):
        tl.add_sample(Sample("a", k * 0.5, k * 0.5 + 0.01, ok))
    _, recovery = detection_and_recovery(tl, ["a"], 0.0, 2.0)
    assert recovery == 4.0                                                # after the relapse, not before


def test_no_fault_is_unknown():
    tl = Timeline()
    tl.add_sample(Sample("a", 0.0, 0.1, False))
    assert rto_verdict(tl, ["a"], 5.0, 0.25, 1.0).status.value == "unknown"
