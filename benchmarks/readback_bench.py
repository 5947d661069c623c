"""Read-back benchmark: the integrity writer's read-back and clean-up of 200,000 writes (an hour at
about 50/s), against the embedded demo (through the front door, as ``writer: {type: http, url:
"${api.url}/configs"}`` does: router → API node → proxies → store primary, replicated to the
standby) and against PostgreSQL 15 (a primary with a streaming standby, as in the tests).

    .venv/bin/python benchmarks/readback_bench.py [--writes 200000] [--only dp] [--old-sample 20000]

The writes are put in place first (not timed: the demo by its store's batch put, on the primary,
PostgreSQL by COPY), then ``Writer.readback()`` and ``Writer.cleanup()`` run exactly as at the end
of a run, and are timed. Every write must read back ``present``, and nothing of the run may be left
after the clean-up. Target: read-back + clean-up well under a minute.

For comparison, the way it was before (one GET and one DELETE per key, 16 at a time, one shared
30 s limit) is timed on ``--old-sample`` keys of the demo and extrapolated to ``--writes``.
Loopback only; free ports; temporary folders.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chaosrunner.timeline import WriteRecord  # noqa: E402
from chaosrunner.writer import Writer, WriterSpec, write_key, write_value  # noqa: E402
from chaosrunner.writer.sinks import HttpSink  # noqa: E402

RUN = "bench_readback"


def records(n: int, prefix: str) -> list[WriteRecord]:
    return [WriteRecord(i, write_key(prefix, RUN, i), i / 50.0, i / 50.0 + 0.002) for i in range(n)]


def timed_readback(writer: Writer, n: int) -> tuple[float, float, int]:
    """(read-back seconds, clean-up seconds, writes found present)."""
    t = time.perf_counter()
    back = writer.readback()
    read = time.perf_counter() - t
    t = time.perf_counter()
    writer.cleanup()
    clean = time.perf_counter() - t
    return read, clean, sum(r.found == "present" for r in back)


# -- the demo -----------------------------------------------------------------------------------
async def put_all(base: str, n: int, prefix: str, parallel: int = 2) -> None:
    """The store's batch put, 2,000 keys a request (replicated to the standby as any write)."""
    gate = asyncio.Semaphore(parallel)
    async with aiohttp.ClientSession() as http:
        async def put(lo: int) -> None:
            body = {"put": {write_key(prefix, RUN, i): write_value(RUN, i) for i in range(lo, min(lo + 2000, n))}}
            for _ in range(10):
                async with gate, http.post(f"{base}/_batch", json=body) as resp:
                    text = await resp.text()
                    if resp.status == 200:
                        return
                await asyncio.sleep(0.5)
            raise RuntimeError(f"batch put from {lo}: HTTP {resp.status}: {text[:200]}")

        await asyncio.gather(*(put(lo) for lo in range(0, n, 2000)))


async def old_way(base: str, keys: list[tuple[int, str, str]]) -> tuple[float, float]:
    """The read-back and clean-up as they were: one GET, then one DELETE, per key, 16 at a time."""
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        async def get(key: str) -> None:
            async with gate, http.get(f"{base}/{key}") as resp:
                await resp.read()

        async def delete(key: str) -> None:
            async with gate, http.delete(f"{base}/{key}") as resp:
                await resp.read()

        t = time.perf_counter()
        await asyncio.gather(*(get(k) for _, k, _ in keys))
        read = time.perf_counter() - t
        t = time.perf_counter()
        await asyncio.gather(*(delete(k) for _, k, _ in keys))
        return read, time.perf_counter() - t


def bench_demo(n: int, old_sample: int) -> bool:
    from chaosrunner.demo import start_demo, stop_demo

    with tempfile.TemporaryDirectory() as tmp:
        demo = start_demo(Path(tmp) / "demo", free_ports=True)
        try:
            front = demo.url("router") + "/configs"
            t = time.perf_counter()
            asyncio.run(put_all(demo.url("store-a") + "/kv", n, "demo"))
            print(f"(d) demo: {n:,} writes put in place in {time.perf_counter() - t:.1f}s (not timed below)")
            writer = Writer(WriterSpec(type="http", url=front, rate="50/s", cleanup=True, prefix="demo"),
                            sink=HttpSink(front, RUN))
            writer.run_id, writer.records = RUN, records(n, "demo")
            try:
                read, clean, present = timed_readback(writer, n)
                batched = isinstance(writer.sink, HttpSink) and writer.sink.batched
            finally:
                writer.close()
            left = asyncio.run(_left(front, n))
            ok = present == n and left == 0 and read + clean < 60
            print(f"    through the front door, batch endpoint {'used' if batched else 'NOT used'}: read-back "
                  f"{read:.2f}s, clean-up {clean:.2f}s, total {read + clean:.2f}s ({n / (read + clean):,.0f} "
                  f"writes/s); {present:,} present, {left} left after clean-up -> {'PASS' if ok else 'FAIL'}")
            if old_sample:
                asyncio.run(put_all(demo.url("store-a") + "/kv", old_sample, "old"))
                keys = [(i, write_key("old", RUN, i), "") for i in range(old_sample)]
                o_read, o_clean = asyncio.run(old_way(front, keys))
                scale = n / old_sample
                print(f"    before (one request per key, 16 at a time), {old_sample:,} keys: read-back {o_read:.2f}s, "
                      f"clean-up {o_clean:.2f}s -> {n:,} writes ≈ {o_read * scale:.0f}s + {o_clean * scale:.0f}s "
                      f"(extrapolated; the old shared limit was 30s)")
        finally:
            stop_demo(demo.dir)
    return ok


async def _left(front: str, n: int) -> int:
    """How many of the run's keys the store still has (a batch read of them all)."""
    sink = HttpSink(front, RUN)
    try:
        found = await sink.read([(i, write_key("demo", RUN, i), write_value(RUN, i)) for i in range(n)])
    finally:
        await sink.close()
    return sum(f != "missing" for f in found.values())


# -- PostgreSQL ------------------------------------------------------------------------------------
def bench_postgres(n: int) -> bool:
    import psycopg
    from pgcluster import PgCluster, available

    if not available():
        print("(p) PostgreSQL 15 binaries not found: skipped")
        return False
    cluster = PgCluster.create()
    try:
        dsn = cluster.dsn
        writer = Writer(WriterSpec(type="postgres", dsn=dsn, rate="50/s", cleanup=True))
        writer.run_id, writer.records = RUN, records(n, "chaosrunner")
        writer._sink = None
        from chaosrunner.writer.core import make_sink

        writer._sink = make_sink(writer.spec, RUN)
        writer._call(writer.sink.open(), 30)
        t = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
            with cur.copy("COPY chaosrunner_writes (run_id, seq, key, value) FROM STDIN") as copy:
                for r in writer.records:
                    copy.write_row((RUN, r.seq, r.key, write_value(RUN, r.seq)))
        print(f"(p) PostgreSQL 15 (primary + streaming standby): {n:,} rows put in place by COPY in "
              f"{time.perf_counter() - t:.1f}s (not timed below)")
        try:
            read, clean, present = timed_readback(writer, n)
        finally:
            writer.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'chaosrunner_writes'").fetchone()
        ok = present == n and left is not None and left[0] == 0 and read + clean < 60
        print(f"    read-back {read:.2f}s (ranges of 50,000 seq, 4 at a time), clean-up {clean:.2f}s, total "
              f"{read + clean:.2f}s ({n / (read + clean):,.0f} writes/s); {present:,} present, table dropped: "
              f"{bool(left and left[0] == 0)} -> {'PASS' if ok else 'FAIL'}")
        return ok
    finally:
        cluster.destroy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=200_000)
    ap.add_argument("--only", default="dp", help="d: the demo, p: PostgreSQL")
    ap.add_argument("--old-sample", type=int, default=20_000, help="keys to time the old way on (0: skip)")
    args = ap.parse_args()
    ok = True
    if "d" in args.only:
        ok &= bench_demo(args.writes, args.old_sample)
    if "p" in args.only:
        ok &= bench_postgres(args.writes)
    print("all within bounds" if ok else "SOME FIGURES OUT OF BOUNDS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
