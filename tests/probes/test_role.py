"""The ``role`` probe against real servers: PostgreSQL before and after a promotion, HTTP, a command."""
import asyncio
import sys

import pytest

import pgcluster
from chaosrunner.analyse.failover import failover_results
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.probes.role import RoleProbeSpec
from chaosrunner.execute.sampling import take_sample
from chaosrunner.timeline import EventKind, Timeline
from writer.kvstore import KvStore


def probe_of(spec: dict, name: str = "db-role"):
    return build_probe(RoleProbeSpec.model_validate({"type": "role", **spec}), name, ProbeContext())


def check(probe):
    async def go():
        try:
            return await probe.check()
        finally:
            await probe.close()
    return asyncio.run(go())


def test_spec_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        RoleProbeSpec.model_validate({"type": "role"})
    with pytest.raises(ValueError, match="exactly one"):
        RoleProbeSpec.model_validate({"type": "role", "command": "x", "http": {"url": "http://h"}})
    spec = RoleProbeSpec.model_validate({"type": "role", "sql": {"nodes": {"a": "host=x"}}, "timeout": "500ms"})
    assert spec.timeout == 0.5


@pytest.mark.slow
@pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 server binaries not installed")
def test_sql_role_follows_a_promotion_and_sees_split_brain():
    cluster = pgcluster.PgCluster.create(sync=False)
    try:
        nodes = {n.name: n.conninfo for n in cluster.nodes.values()}
        # room for a node busy just after its promotion or restart; a lost node refuses at once
        spec = {"sql": {"nodes": nodes}, "timeout": "3s"}

        async def scenario():
            tl = Timeline()
            probe = probe_of(spec)
            try:
                before = [await take_sample(probe, tl) for _ in range(2)]
                tl.event(EventKind.FAULT_INJECTED, fault_id="f1", target="pg1", type="process")
                await asyncio.to_thread(cluster.primary.kill9)
                down = await take_sample(probe, tl)
                await asyncio.to_thread(cluster.standby.promote)
                after = await take_sample(probe, tl)
                # the old primary restarted on its own: two nodes now accept writes
                await asyncio.to_thread(cluster.primary.start)
                split = await take_sample(probe, tl)
                return tl, before, down, after, split
            finally:
                await probe.close()

        tl, before, down, after, split = asyncio.run(scenario())
        assert all(s.ok and s.role == "pg1" for s in before)
        assert before[0].value == {"pg1": "primary", "pg2": "standby"}
        assert not down.ok and down.role is None and down.value["pg1"].startswith("unreachable")
        assert down.error == "no node answered as primary"
        assert after.ok and after.role == "pg2" and after.value["pg2"] == "primary"
        assert not split.ok and split.role == "pg1,pg2" and "split brain" in split.error
        (res,) = failover_results(tl.samples, tl.events, "db-role", [], 0.25)
        assert res.primary_before == "pg1" and res.new_primary == "pg2"
        assert res.failover_time == pytest.approx(after.start - tl.events[0].t)
        assert len(res.split_brain) == 1
    finally:
        cluster.destroy()


def test_sql_role_with_unreachable_nodes_is_a_failed_sample():
    free = pgcluster.free_port()
    probe = probe_of({"sql": {"nodes": {"a": f"host=127.0.0.1 port={free} user=postgres connect_timeout=1"}},
                      "timeout": "1s"})
    out = check(probe)
    assert not out.ok and out.value["a"].startswith("unreachable")


def test_http_role_text_and_json_field():
    kv = KvStore().start()
    try:
        text = check(probe_of({"http": {"url": f"{kv.url}/primary"}}))
        assert text.ok and text.role == "node-a"
        kv.primary = "node-b"
        field = check(probe_of({"http": {"url": f"{kv.url}/cluster", "field": "cluster.leader"}}))
        assert field.ok and field.role == "node-b"
        kv.primary = "node-a,node-b"
        both = check(probe_of({"http": {"url": f"{kv.url}/primary"}}))
        assert not both.ok and both.role == "node-a,node-b"
        missing = check(probe_of({"http": {"url": f"{kv.url}/cluster", "field": "nope"}}))
        assert not missing.ok and "no field" in missing.error
    finally:
        kv.stop()


def test_command_role():
    ok = check(probe_of({"command": [sys.executable, "-c", "print('db-2')"]}))
    assert ok.ok and ok.role == "db-2"
    failed = check(probe_of({"command": [sys.executable, "-c", "import sys; sys.exit(3)"]}))
    assert not failed.ok and failed.error.startswith("exit 3")
    nobody = check(probe_of({"command": [sys.executable, "-c", "print('')"]}))
    assert not nobody.ok and nobody.role is None
