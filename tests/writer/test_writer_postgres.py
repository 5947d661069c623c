"""The writer against real PostgreSQL 15: a primary lost under load, the standby promoted.

The primary's WAL senders are stalled for a second before it is killed (the replication lag a
busy or distant standby has), then every process of the primary gets SIGKILL and the failover
fixture promotes the standby. Asynchronous replication must then lose the writes the primary
acknowledged during the lag; synchronous replication with ``remote_apply`` must lose none.
The test checks the writer's answer against both nodes, queried directly.
"""
import time
from dataclasses import dataclass

import pytest

import pgcluster
from support import wait_until

from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import Timeline
from chaosrunner.writer import Writer, WriterSpec

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 server binaries not installed")]

LAG = 1.0


def seqs_on(node, run_id):
    return {r[0] for r in node.query("SELECT seq FROM chaosrunner_writes WHERE run_id = %s", (run_id,))}


@dataclass
class Loss:
    tl: Timeline
    back: list
    stalled: float          # writer clock: the WAL senders were stopped by then
    killed: float           # writer clock: just before the primary's processes got SIGKILL
    on_new: set[int]
    on_old: set[int]


def lose_primary_under_writer(cluster, run_id) -> Loss:
    tl = Timeline()
    writer = Writer(WriterSpec(type="postgres", dsn=cluster.dsn, rate="50/s", timeout="1s"))
    failover = pgcluster.Failover(cluster, after=0.5)
    writer.start(tl, run_id)
    try:
        wait_until(lambda: sum(r.ack is not None for r in writer.records) >= 20, 15)
        failover.start()
        assert cluster.primary.stall_walsenders()
        stalled = tl.now()
        time.sleep(LAG)
        killed = tl.now()
        cluster.primary.kill9()
        wait_until(lambda: failover.promoted_at is not None or failover.error is not None, 30)
        assert failover.promoted_at is not None, failover.error
        # writes resume on the promoted standby (the multi-host dsn reaches it)
        wait_until(lambda: sum(r.ack is not None and r.sent > killed for r in writer.records) >= 10, 30)
        writer.stop()
        back = writer.readback()
    finally:
        failover.stop()
        writer.close()
    on_new = seqs_on(cluster.standby, run_id)
    cluster.primary.start()                # the old primary, back alone: what it had committed
    on_old = seqs_on(cluster.primary, run_id)
    return Loss(tl, back, stalled, killed, on_new, on_old)


@pytest.fixture
def async_cluster():
    cluster = pgcluster.PgCluster.create(sync=False)
    yield cluster
    cluster.destroy()


@pytest.fixture
def sync_cluster():
    cluster = pgcluster.PgCluster.create(sync=True)
    yield cluster
    cluster.destroy()


def test_async_standby_loses_the_writes_acknowledged_during_the_lag(async_cluster):
    loss = lose_primary_under_writer(async_cluster, "async-run")
    back, on_new, on_old = loss.back, loss.on_new, loss.on_old
    res = integrity(back)
    acked = {r.seq for r in back if r.ack is not None}
    really_lost = acked - on_new
    # ~50 writes acknowledged while replication was stalled; a stalled writer thread may skip a
    # few deadlines, and an answer that ignored the lag (none lost, or only those in flight at
    # the kill) stays far below
    assert res.read_back and res.lost == len(really_lost) > 0.4 * 50 * LAG
    assert set(res.lost_seqs) == really_lost
    assert really_lost <= on_old              # the old primary had committed every one of them
    assert {r.seq for r in back if r.found in ("present", "duplicated")} == on_new
    assert res.duplicated == 0 and res.corrupted == 0
    # RPO from the data: newest lost ack minus the newest surviving ack before the loss
    ack = {r.seq: r.ack for r in back}
    first_lost = min(really_lost, key=lambda s: ack[s])
    survivor = max(ack[s] for s in acked & on_new if ack[s] < ack[first_lost])
    assert res.rpo == pytest.approx(max(ack[s] for s in really_lost) - survivor)
    # ... and against the recorded instants: from the stall to the kill (LAG, plus however much
    # the sleep overshot), within a write interval and the moment an ack takes to be stamped
    assert loss.killed - loss.stalled - 0.25 < res.rpo < loss.killed - loss.stalled + 0.25, \
        (res.rpo, loss.killed - loss.stalled)
    assert res.unacknowledged > 0            # writes failed, and were counted, until the promotion
    assert any(r.ack is not None and r.sent > loss.killed for r in back)   # and resumed on the new primary


def test_sync_standby_with_remote_apply_loses_nothing_acknowledged(sync_cluster):
    loss = lose_primary_under_writer(sync_cluster, "sync-run")
    back, on_new = loss.back, loss.on_new
    res = integrity(back)
    acked = {r.seq for r in back if r.ack is not None}
    assert res.read_back and res.lost == 0 and res.rpo == 0.0
    assert acked <= on_new
    # the stalled standby held every commit back (~50/s over LAG; a stalled thread may skip a few)
    assert res.unacknowledged >= 0.4 * 50 * LAG
    assert any(r.ack is not None and r.sent > loss.killed for r in back)
