import pytest

from chaosrunner.analyse.integrity import integrity, integrity_verdicts, write_interval
from chaosrunner.analyse.verdict import Status
from chaosrunner.timeline import WriteRecord

P = 0.05   # 20 writes/s


def writes(n, found=lambda i: "present", acked=lambda i: True, latency=0.004):
    return [WriteRecord(i, f"run-{i}", i * P, i * P + latency if acked(i) else None,
                        None if acked(i) else "refused", found(i)) for i in range(n)]


def test_nothing_lost():
    res = integrity(writes(100))
    assert res.lost == 0 and res.rpo == 0.0 and res.loss_window is None and res.read_back
    assert res.resolution == pytest.approx(P)
    rpo, integ = integrity_verdicts(res, 0.0)
    assert rpo.status is Status.PASSED and integ.status is Status.PASSED


def test_lost_window_and_rpo():
    # writes 40..59 acknowledged then lost (e.g. an async standby promoted)
    res = integrity(writes(100, found=lambda i: "missing" if 40 <= i < 60 else "present"))
    assert res.lost == 20 and res.lost_seqs == tuple(range(40, 60))
    assert res.loss_window == pytest.approx((40 * P + 0.004, 59 * P + 0.004))
    assert res.rpo == pytest.approx(20 * P)            # ack(59) - ack(39)
    assert res.to_dict()["lost_seqs"] == [[40, 59]]
    (v, _) = integrity_verdicts(res, 0.0)
    assert v.status is Status.FAILED and v.value == pytest.approx(1.0)
    assert integrity_verdicts(res, 60.0)[0].status is Status.PASSED


def test_failed_writes_are_not_lost_and_unacked_present_counted():
    res = integrity(writes(50, acked=lambda i: not 10 <= i < 20,
                           found=lambda i: "missing" if 10 <= i < 15 else "present"))
    assert res.lost == 0 and res.rpo == 0.0
    assert res.unacknowledged == 10 and res.unacknowledged_present == 5


def test_corrupted_and_duplicated():
    res = integrity(writes(30, found=lambda i: {5: "corrupted", 6: "duplicated"}.get(i, "present")))
    assert res.corrupted == 1 and res.duplicated == 1 and res.lost == 1
    assert res.rpo == pytest.approx(P)                 # ack(5) - ack(4)
    rpo, integ = integrity_verdicts(res, 1.0)
    assert rpo.status is Status.PASSED and integ.status is Status.FAILED


def test_everything_lost_from_the_start():
    res = integrity(writes(10, found=lambda i: "missing"))
    assert res.lost == 10 and res.last_surviving_before_loss == 0.0
    assert res.rpo == pytest.approx(9 * P + 0.004) and "no acknowledged write survived" in res.note


def test_not_read_back_and_no_writes_are_unknown():
    res = integrity(writes(10, found=lambda i: None))
    assert not res.read_back
    assert [v.status for v in integrity_verdicts(res, 0.0)] == [Status.UNKNOWN, Status.UNKNOWN]
    empty = integrity([])
    assert [v.status for v in integrity_verdicts(empty, 0.0)] == [Status.UNKNOWN, Status.UNKNOWN]
    assert [v.name for v in integrity_verdicts(empty, None)] == ["data integrity"]


def test_write_interval_is_robust_to_a_stall():
    recs = writes(20)
    assert write_interval(recs + [WriteRecord(99, "k", 10.0, None)]) == pytest.approx(P)


def test_rpo_without_a_survivor_is_measured_from_the_first_lost_sending():
    """Printed rule: when no acknowledged write survived before the loss, the oldest lost write's
    sending time stands in for the newest survivor's acknowledgement."""
    recs = writes(10, found=lambda i: "missing" if i < 4 else "present", latency=0.02)
    res = integrity(recs)
    assert res.lost == 4
    assert res.last_surviving_before_loss == pytest.approx(0.0)          # sent at 0.0, acknowledged at 0.02
    assert res.rpo == pytest.approx(3 * P + 0.02)                          # ack of write 3 − send of write 0
    (rpo, _) = integrity_verdicts(res, 3 * P)
    assert rpo.status is Status.FAILED and "measured from the first lost write's sending" in rpo.detail
