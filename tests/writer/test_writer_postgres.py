"""The writer against real PostgreSQL 15: a primary lost under load, the standby promoted.

The primary's WAL senders are stalled for a second before it is killed (the replication lag a
busy or distant standby has), then every process of the primary gets SIGKILL and the failover
fixture promotes the standby. Asynchronous replication must then lose the writes the primary
acknowledged during the lag; synchronous replication with ``remote_apply`` must lose none.
The test checks the writer's answer against both nodes, queried directly.
"""
import time

import pytest

import pgcluster
from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import Timeline
from chaosrunner.writer import Writer, WriterSpec

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 server binaries not installed")]

LAG = 1.0


def seqs_on(node, run_id):
    return {r[0] for r in node.query("SELECT seq FROM chaosrunner_writes WHERE run_id = %s", (run_id,))}


def lose_primary_under_writer(cluster, run_id):
    tl = Timeline()
    writer = Writer(WriterSpec(type="postgres", dsn=cluster.dsn, rate="50/s", timeout="1s"))
    failover = pgcluster.Failover(cluster, after=0.5)
    writer.start(tl, run_id)
    try:
        time.sleep(1.0)
        failover.start()
        assert cluster.primary.stall_walsenders()
        time.sleep(LAG)
        killed_at = tl.now()
        cluster.primary.kill9()
        deadline = time.monotonic() + 15
        while failover.promoted_at is None and time.monotonic() < deadline and failover.error is None:
            time.sleep(0.05)
        assert failover.promoted_at is not None, failover.error
        time.sleep(1.5)
        writer.stop()
        back = writer.readback()           # the multi-host dsn now reaches the promoted standby
    finally:
        failover.stop()
        writer.close()
    on_new = seqs_on(cluster.standby, run_id)
    cluster.primary.start()                # the old primary, back alone: what it had committed
    on_old = seqs_on(cluster.primary, run_id)
    return tl, back, killed_at, on_new, on_old


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
    tl, back, killed_at, on_new, on_old = lose_primary_under_writer(async_cluster, "async-run")
    res = integrity(back)
    acked = {r.seq for r in back if r.ack is not None}
    really_lost = acked - on_new
    assert res.read_back and res.lost == len(really_lost) > 0.6 * 50 * LAG
    assert set(res.lost_seqs) == really_lost
    assert really_lost <= on_old              # the old primary had committed every one of them
    assert {r.seq for r in back if r.found in ("present", "duplicated")} == on_new
    assert res.duplicated == 0 and res.corrupted == 0
    # RPO from the data: newest lost ack minus the newest surviving ack before the loss
    ack = {r.seq: r.ack for r in back}
    first_lost = min(really_lost, key=lambda s: ack[s])
    survivor = max(ack[s] for s in acked & on_new if ack[s] < ack[first_lost])
    assert res.rpo == pytest.approx(max(ack[s] for s in really_lost) - survivor)
    assert LAG - 0.2 < res.rpo < LAG + 0.3
    assert res.unacknowledged > 0            # writes failed, and were counted, until the promotion
    assert any(r.ack is not None and r.sent > killed_at for r in back)   # and resumed on the new primary


def test_sync_standby_with_remote_apply_loses_nothing_acknowledged(sync_cluster):
    tl, back, killed_at, on_new, on_old = lose_primary_under_writer(sync_cluster, "sync-run")
    res = integrity(back)
    acked = {r.seq for r in back if r.ack is not None}
    assert res.read_back and res.lost == 0 and res.rpo == 0.0
    assert acked <= on_new
    assert res.unacknowledged >= 0.6 * 50 * LAG   # the stalled standby held every commit back
    assert any(r.ack is not None and r.sent > killed_at for r in back)
