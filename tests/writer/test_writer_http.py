"""The writer against a real local HTTP store that drops, refuses and corrupts writes on cue."""
import statistics
import time

import pytest

from support import wait_until

from chaosrunner.analyse.integrity import integrity
from chaosrunner.timeline import EventKind, Timeline
from chaosrunner.writer import Writer, WriterError, WriterSpec, write_key


def spec(kv, **kw):
    return WriterSpec.model_validate({"type": "http", "url": f"{kv.url}/kv", "rate": "50/s", **kw})


def test_lost_refused_and_corrupted_writes_are_exactly_those_the_store_mishandled(kv):
    tl = Timeline()
    writer = Writer(spec(kv))
    writer.start(tl, "run 1")          # a run id is made key-safe
    switched: list[float] = []         # when each mode began, on the writer's clock
    try:
        # Each mode lasts its time and at least a few writes (a stalled writer thread must not
        # leave a mode without any); the RPO is then checked against the recorded switch times.
        for mode, seconds in (("ok", 0.4), ("drop", 0.4), ("ok", 0.3), ("down", 0.3), ("corrupt", 0.1),
                              ("ok", 0.3)):
            kv.mode = mode
            switched.append(tl.now())
            puts = kv.puts
            time.sleep(seconds)
            wait_until(lambda puts=puts: kv.puts >= puts + 3, 10, interval=0.005)
        stopped = tl.now()
        records = writer.stop()
        # 50/s from the first write to the stop; a stalled thread skips deadlines (never bursts),
        # so a few may be missing, never extra. A writer at half or twice the rate falls outside.
        expected = (stopped - min(r.sent for r in records)) * 50
        assert 0.7 * expected <= len(records) <= expected + 2, (len(records), expected)
        assert [r.seq for r in sorted(records, key=lambda r: r.seq)] == list(range(len(records)))
        back = writer.readback()
    finally:
        writer.close()
    res = integrity(back)
    assert res.read_back
    by_key = {r.key: r for r in back}
    dropped = set(kv.dropped)
    assert dropped and res.lost == len(dropped) + res.corrupted
    assert {r.key for r in back if r.found == "missing" and r.ack is not None} == dropped
    assert res.unacknowledged == len(kv.refused) and all(by_key[k].ack is None for k in kv.refused)
    assert res.corrupted >= 1
    # Two incidents, with acknowledged survivors between them ("ok" after "drop"): "drop" (from the
    # switch to it to its end, ~0.4 s) and "down"+"corrupt" (refused writes are not survivors: from the
    # last survivor before "down" to the end of "corrupt", ~0.4 s), each within a write interval or two
    # either side. The RPO is the worst incident's, never their span (~1.1 s).
    assert len(res.incidents) == 2, res.incidents
    drop, corrupt = res.incidents
    assert drop.rpo == pytest.approx(switched[2] - switched[1], abs=0.1), switched
    assert corrupt.rpo == pytest.approx(switched[5] - switched[3], abs=0.1), switched
    assert res.rpo == max(drop.rpo, corrupt.rpo) < switched[5] - switched[1] - 0.2
    assert res.resolution == pytest.approx(0.02, abs=0.002)
    assert all(k.startswith("chaosrunner-run_1-") for k in by_key)
    assert tl.writes == back
    kinds = [e.kind for e in tl.events]
    assert EventKind.WRITER_STARTED in kinds and EventKind.WRITER_STOPPED in kinds


def test_fixed_deadlines_hold_while_the_store_hangs(kv):
    import asyncio

    class SlowSink:
        """Every write takes 300 ms: more than the writer's period, less than its timeout."""
        async def open(self): pass
        async def write(self, key, seq, value): await asyncio.sleep(0.3)
        async def read(self, wanted): return {s: "present" for s, _, _ in wanted}
        async def cleanup(self): pass
        async def close(self): pass

    tl = Timeline()
    writer = Writer(spec(kv), sink=SlowSink())
    writer.start(tl, "slow")
    time.sleep(1.0)
    stopped = tl.now()
    records = sorted(writer.stop(), key=lambda r: r.seq)
    writer.close()
    gaps = [b.sent - a.sent for a, b in zip(records[:-1], records[1:], strict=True)]
    # 50/s from the first write to the stop (a writer waiting on each 300 ms ack would manage ~4);
    # a stalled thread skips deadlines, so a few may be missing
    expected = (stopped - records[0].sent) * 50
    assert 0.7 * expected <= len(records) <= expected + 2, (len(records), expected)
    # sends keep the 20 ms schedule (a writer waiting on each 300 ms ack would space them 300 ms);
    # one or two gaps may hold a stall of this shared machine, so the 90th percentile is judged
    assert statistics.median(gaps) == pytest.approx(0.02, abs=0.003)
    assert sorted(gaps)[int(len(gaps) * 0.9)] < 0.1
    assert all(r.ack is not None and r.ack - r.sent >= 0.29 for r in records)


def test_cleanup_removes_this_runs_keys(kv):
    kv.data["other-run"] = "kept"
    writer = Writer(spec(kv, cleanup=True))
    writer.start(Timeline(), "r2")
    time.sleep(0.2)
    writer.stop()
    assert writer.readback() and kv.data.keys() - {"other-run"}
    writer.cleanup()
    writer.close()
    assert kv.data == {"other-run": "kept"}


def test_unreachable_store_at_start_is_an_error():
    writer = Writer(WriterSpec(type="redis", url="redis://127.0.0.1:1/0", timeout="200ms"))
    with pytest.raises(WriterError, match="could not prepare"):
        writer.start(Timeline(), "x")
    writer.close()


def test_spec_validation():
    assert WriterSpec.model_validate({"type": "http", "url": "http://h/kv"}).rate == 20.0
    with pytest.raises(ValueError, match="needs url"):
        WriterSpec.model_validate({"type": "http"})
    with pytest.raises(ValueError, match="dsn"):
        WriterSpec.model_validate({"type": "postgres"})
    with pytest.raises(ValueError, match="identifier"):
        WriterSpec.model_validate({"type": "postgres", "dsn": "host=x", "table": "x; drop"})
    with pytest.raises(ValueError, match="extra"):
        WriterSpec.model_validate({"type": "redis", "url": "redis://h", "ratee": 1})
    assert write_key("p", "r", 7) == "p-r-00000007"
