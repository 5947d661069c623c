"""The writer against a real Redis that is killed and restarted without persistence."""
import time

import pytest
import redis

from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import Timeline
from chaosrunner.writer import Writer, WriterSpec
from writer.conftest import RedisServer


@pytest.mark.slow
def test_redis_restart_without_persistence_loses_every_acknowledged_write(redis_server):
    tl = Timeline()
    writer = Writer(WriterSpec(type="redis", url=redis_server.url, rate="50/s", timeout="300ms", cleanup=True))
    writer.start(tl, "redis-run")
    try:
        time.sleep(0.6)
        killed_at = tl.now()
        redis_server.kill()
        time.sleep(0.5)
        restarted = RedisServer(redis_server.port).start()
        restarted_at = tl.now()
        time.sleep(0.6)
        writer.stop()
        back = writer.readback()
        res = integrity(back)
        # independently: what Redis holds now
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        held = set(client.keys("chaosrunner-redis-run-*"))
        acked = {r.key for r in back if r.ack is not None}
        assert res.lost == len(acked - held) > 20
        assert all(r.ack <= killed_at + 0.05 for r in back if r.found == "missing" and r.ack is not None)
        assert {r.key for r in back if r.found == "present"} == held
        assert all(r.sent >= restarted_at - 0.35 for r in back if r.found == "present")
        assert res.unacknowledged >= 15            # writes kept going, and were counted, while it was down
        assert res.rpo == pytest.approx(0.6, abs=0.1)
        writer.cleanup()
        assert client.keys("chaosrunner-redis-run-*") == []
    finally:
        writer.close()
        redis_server.proc = restarted.proc if "restarted" in locals() else redis_server.proc
