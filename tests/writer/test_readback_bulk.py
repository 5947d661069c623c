"""Read-back and clean-up in bulk: the demo store's batch endpoint (``POST /kv/_batch``), the fallback
to one key at a time where a target has none, and a time limit that grows with the number of writes.
Volumes here are small (a test); ``benchmarks/readback_bench.py`` measures 200,000 writes."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from support import free_port, wait_http

from chaosrunner.timeline import Timeline, WriteRecord
from chaosrunner.writer import Writer, WriterSpec, write_key, write_value
from chaosrunner.writer.core import READBACK_FLOOR
from chaosrunner.writer.sinks import HttpSink


@pytest.fixture
def demo_store(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.demo.store", "--name", "store-a", "--port", str(port),
                             "--db", str(tmp_path / "a.db")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_the_http_sink_reads_back_and_cleans_up_through_the_batch_endpoint(demo_store):
    run, n = "bulk", 4500                      # three batches (2,000 a batch)
    sink = HttpSink(f"{demo_store}/kv", run)
    wanted = [(i, write_key("cr", run, i), write_value(run, i)) for i in range(n)]

    async def go() -> tuple[dict[int, str], dict[int, str]]:
        # the store holds every write but two: one never written, one altered (batch puts: fast)
        for lo in range(0, n, 2000):
            body = {"put": {k: ("bad" if i == 9 else v) for i, k, v in wanted[lo:lo + 2000] if i != 7}}
            async with sink._http().post(f"{demo_store}/kv/_batch", json=body) as resp:
                assert resp.status == 200, await resp.text()
        found = await sink.read(wanted)
        await sink.cleanup_keys([k for _, k, _ in wanted])
        after = await sink.read(wanted)
        await sink.close()
        return found, after

    found, after = asyncio.run(go())
    assert sink.batched is True
    assert found[7] == "missing" and found[9] == "corrupted"
    assert sum(f == "present" for f in found.values()) == n - 2
    assert set(after.values()) == {"missing"}                     # cleaned up
    assert _status(f"{demo_store}/kv/{wanted[0][1]}") == 404


@pytest.mark.slow
def test_the_batch_endpoint_refuses_what_it_cannot_do(demo_store):
    req = urllib.request.Request(f"{demo_store}/kv/_batch", data=b'{"get": "not a list"}', method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400


def test_a_target_without_a_batch_endpoint_is_read_key_by_key(kv):
    tl = Timeline()
    writer = Writer(WriterSpec(type="http", url=kv.url, rate="100/s", timeout="500ms", cleanup=True))
    writer.start(tl, "nobatch")
    try:
        import time

        time.sleep(0.5)
        back = writer.readback()
        writer.cleanup()
        sink = writer.sink
    finally:
        writer.close()
    assert isinstance(sink, HttpSink) and sink.batched is False
    assert back and all(r.found == "present" for r in back if r.ack is not None)
    assert not any(k.startswith("chaosrunner-nobatch-") for k in kv.data)


def test_the_time_limit_grows_with_the_number_of_writes():
    w = Writer(WriterSpec(type="http", url="http://127.0.0.1:9/kv", readback_timeout="30s"))
    assert w.work_limit(0) == 30.0
    assert w.work_limit(200_000) == pytest.approx(30.0 + 200_000 / READBACK_FLOOR)
    w.records = [WriteRecord(i, f"k{i}", 0.0, 0.0) for i in range(10)]
    assert w.work_limit(len(w.records)) > w.work_limit(0)
