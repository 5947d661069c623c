"""RPO per incident (issue 17): two separate losses in one run are two incidents, judged on the worst."""
import pytest

from chaosrunner.analyse.integrity import incidents, integrity, integrity_verdicts, writes_in_window
from chaosrunner.analyse.verdict import Status
from chaosrunner.timeline import FaultWindow, WriteRecord

P = 0.02   # 50 writes/s


def soak(n, lost=(), acked=lambda i: True):
    """A long run of writes; the seqs in ``lost`` were acknowledged and then missing on read-back."""
    return [WriteRecord(i, f"k{i}", i * P, i * P + 0.003 if acked(i) else None, None if acked(i) else "refused",
                        "missing" if i in lost else "present") for i in range(n)]


# the soak of the issue: partitions at 217.9 s and 453.3 s, each losing ~0.18 s and ~0.12 s of writes
FIRST = range(int(217.72 / P), int(217.9 / P))
SECOND = range(int(453.18 / P), int(453.3 / P))
WINDOWS = [FaultWindow(0, 217.9, 227.9, ("f1",), ("db",)), FaultWindow(1, 453.3, 463.3, ("f2",), ("db",))]


@pytest.mark.parametrize("windows", [(), WINDOWS], ids=["contiguous loss", "fault windows"])
def test_two_incidents_are_reported_apart_and_judged_on_the_worst(windows):
    res = integrity(soak(int(720 / P), lost={*FIRST, *SECOND}), P, windows)
    assert [len(range(i.first_seq, i.last_seq + 1)) for i in res.incidents] == [len(FIRST), len(SECOND)]
    first, second = res.incidents
    assert first.rpo == pytest.approx(len(FIRST) * P) and second.rpo == pytest.approx(len(SECOND) * P)
    assert res.rpo == pytest.approx(first.rpo) and res.worst_incident == 0     # the worst, not the span
    assert res.rpo < 1.0
    assert res.loss_window[1] - res.loss_window[0] > 200                        # the span is still shown
    if windows:
        assert [i.window for i in res.incidents] == [0, 1]
    rpo, _integ = integrity_verdicts(res, 1.0)
    assert rpo.status is Status.PASSED, rpo                                     # the span would fail: 3 min 56 s
    assert "incidents: 1)" in rpo.detail and "2)" in rpo.detail
    assert integrity_verdicts(res, 0.1)[0].status is Status.FAILED              # 0.18 s > 0.1 s
    assert [i["rpo"] for i in res.to_dict()["incidents"]] == [first.rpo, second.rpo]


def test_losses_split_by_a_survivor_in_one_fault_window_are_one_incident():
    # an asynchronous standby can keep one write of a lost stretch: the same fault, the same incident
    lost = {*range(100, 110), *range(111, 120)}
    recs = soak(300, lost=lost)
    window = [FaultWindow(0, 120 * P, 200 * P, ("f1",), ("db",))]
    assert len(incidents([r for r in recs if r.ack is not None])) == 2           # contiguous loss alone: two
    [one] = incidents([r for r in recs if r.ack is not None], window)
    assert one.lost == 19 and one.rpo == pytest.approx(20 * P)                  # ack(119) - ack(99)


def test_the_writers_view_of_an_outage():
    # writes fail (refused) from 5.0 s to 7.0 s after a fault at 5.0 s; the first acknowledged after is at 7.0 s
    recs = soak(500, acked=lambda i: not 5.0 <= i * P < 7.0)
    view = writes_in_window(recs, FaultWindow(0, 5.0, 8.0, ("f1",), ("db",)), 9.0, P)
    assert view.failed == int(2.0 / P)
    assert view.first_ack_after_outage == pytest.approx(2.0 + 0.003)
    assert view.longest_gap == pytest.approx(2.0 + P)                           # ack(4.98) → ack(7.00)
    assert view.gap_from == pytest.approx(5.0 - P + 0.003)
    calm = writes_in_window(soak(500), FaultWindow(0, 5.0, 8.0, ("f1",), ("db",)), 9.0, P)
    assert calm.failed == 0 and calm.first_ack_after_outage is None and calm.longest_gap == pytest.approx(P)
