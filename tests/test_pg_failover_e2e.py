"""End to end on real PostgreSQL 15: a chaosrunner run kills the primary under the writer.

The experiment stalls replication (a ``process stop`` fault on the primary's WAL sender: the
lag of a busy standby), kills the primary's postmaster (``process kill``), and measures, while
the cluster's supervisor promotes the standby: failover time (``role`` probe over SQL), lost
acknowledged writes and RPO (``writer`` on a multi-host DSN). The test then queries both nodes
directly and checks that the run reported what the data really shows.
"""
from __future__ import annotations

import pytest

import pgcluster
from chaosrunner import api
from support import write

pytestmark = pytest.mark.slow

EXP = """\
name: pg-primary-loss
targets: inv.yaml
steady_state:
  - probe:
      type: role
      name: primary
      timeout: 1s
      sql: {{nodes: {{pg1: "{pg1}", pg2: "{pg2}"}}}}
writer: {{type: postgres, dsn: "{dsn}", rate: 50/s, timeout: 1s}}
method:
  - pause: 1s
  - action: {{type: process, operation: stop, target: replication, duration: 8s, background: true}}
  - pause: 1s
  - action: {{type: process, operation: kill, target: pg-primary}}
  - pause: 4s
objectives:
  failover: {{probe: primary, within: 15s}}
  rpo: {rpo}
sampling: {{interval: 100ms, stable_for: 1s}}
"""


def run_primary_loss(tmp_path, cluster, rpo: str):
    write(tmp_path / "inv.yaml", f"""\
targets:
  pg-primary:
    process: {{pidfile: {cluster.primary.datadir / 'postmaster.pid'}}}
  replication:
    process: {{match: "walsender"}}
""")
    exp = write(tmp_path / "exp.yaml", EXP.format(pg1=cluster.primary.conninfo, pg2=cluster.standby.conninfo,
                                                  dsn=cluster.dsn, rpo=rpo))
    failover = pgcluster.Failover(cluster, after=0.5).start()
    try:
        [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "reports", handle_signals=False))
    finally:
        failover.stop()
    run_id = result.run_id
    on_new = {r[0] for r in cluster.standby.query("SELECT seq FROM chaosrunner_writes WHERE run_id = %s",
                                                   (run_id,))}
    return result, on_new


def verdict(result, name):
    return next(v for v in result.verdicts if v.name == name)


@pytest.fixture
def async_cluster():
    cluster = pgcluster.PgCluster.create(sync=False)
    cluster.wait_streaming()
    yield cluster
    cluster.destroy()


@pytest.fixture
def sync_cluster():
    cluster = pgcluster.PgCluster.create(sync=True)
    cluster.wait_streaming()
    yield cluster
    cluster.destroy()


def test_async_standby_failover_reports_the_writes_really_lost(tmp_path, async_cluster):
    result, on_new = run_primary_loss(tmp_path, async_cluster, "5s")
    writes = result.data["timeline"]["writes"]
    acked = {w["seq"] for w in writes if w["ack"] is not None}
    really_lost = acked - on_new
    integrity = result.data["measurements"]["integrity"]
    assert integrity["lost"] == len(really_lost) > 10, integrity
    assert {s for a, b in integrity["lost_seqs"] for s in range(a, b + 1)} == really_lost    # ranges
    assert 0.5 < integrity["rpo"] < 2.5                     # about the 1s of stalled replication
    fo = verdict(result, "failover")
    assert fo.status.value == "passed" and 0 < fo.value < 15, fo
    assert result.data["measurements"]["windows"][0]["failover_result"]["new_primary"] == "pg2"
    rpo = verdict(result, "rpo")                            # loss is judged by the RPO objective ...
    assert rpo.status.value == "passed" and rpo.value == pytest.approx(integrity["rpo"])
    assert verdict(result, "data integrity").status.value == "passed"    # ... corruption by this one
    assert (result.run_dir / "report.html").exists()


def test_sync_standby_failover_loses_nothing(tmp_path, sync_cluster):
    result, on_new = run_primary_loss(tmp_path, sync_cluster, "0s")
    writes = result.data["timeline"]["writes"]
    acked = {w["seq"] for w in writes if w["ack"] is not None}
    assert acked and acked <= on_new
    integrity = result.data["measurements"]["integrity"]
    assert integrity["lost"] == 0 and integrity["rpo"] == 0
    assert verdict(result, "rpo").status.value == "passed"
    assert verdict(result, "failover").status.value == "passed"
