"""The writer against a real Redis that is killed and restarted without persistence."""

import pytest
import redis

from support import wait_until

from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import Timeline
from chaosrunner.writer import Writer, WriterSpec
from writer.conftest import RedisServer


def acked(writer: Writer) -> int:
    return sum(r.ack is not None for r in writer.records)


def unacked(writer: Writer) -> int:
    return sum(r.ack is None for r in writer.records)


@pytest.mark.slow
def test_redis_restart_without_persistence_loses_every_acknowledged_write(redis_server):
    tl = Timeline()
    writer = Writer(WriterSpec(type="redis", url=redis_server.url, rate="50/s", timeout="300ms", cleanup=True))
    writer.start(tl, "redis-run")
    try:
        # phases end on what the writer observed, not after fixed times: 30 writes acknowledged ...
        wait_until(lambda: acked(writer) >= 30, 15, interval=0.01)
        kill_started = tl.now()
        redis_server.kill()                # SIGKILL, and reaped: Redis is gone when this returns
        killed_at = tl.now()
        # ... writes refused while it is down ...
        wait_until(lambda: unacked(writer) >= 15, 15, interval=0.01)
        restarting_at = tl.now()
        restarted = RedisServer(redis_server.port).start()
        # ... and 20 acknowledged by the restarted Redis
        wait_until(lambda: sum(r.ack is not None and r.sent >= restarting_at for r in writer.records) >= 20, 15,
                   interval=0.01)
        writer.stop()
        back = writer.readback()
        res = integrity(back)
        # independently: what Redis holds now
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        held = set(client.keys("chaosrunner-redis-run-*"))
        acked_keys = {r.key for r in back if r.ack is not None}
        assert res.lost == len(acked_keys - held) >= 30
        # Lost: acknowledged before the kill (stamping an ack may lag its reply a moment on a busy
        # machine; the restarted Redis was not started until well after).
        assert all(r.ack <= killed_at + 0.25 for r in back if r.found == "missing" and r.ack is not None)
        assert {r.key for r in back if r.found == "present"} == held
        # Kept: sent after the restart began, or within one 300 ms write timeout before it (a
        # write stamped just before may reach Redis once it listens).
        assert all(r.sent >= restarting_at - 0.35 for r in back if r.found == "present")
        assert res.unacknowledged >= 15            # writes kept going, and were counted, while it was down
        # No write survived before the loss, so the RPO runs from the first lost write's sending
        # to the newest lost ack, i.e. to the kill (within a write interval and a stamping delay).
        first = min(r.sent for r in back if r.found == "missing" and r.ack is not None)
        assert kill_started - first - 0.2 <= res.rpo <= killed_at - first + 0.2, (res.rpo, kill_started - first)
        writer.cleanup()
        assert client.keys("chaosrunner-redis-run-*") == []
    finally:
        writer.close()
        redis_server.proc = restarted.proc if "restarted" in locals() else redis_server.proc
