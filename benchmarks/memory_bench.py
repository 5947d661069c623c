"""Memory over a long run: the runner's resident memory, minute by minute, before and after streaming
samples and writes to disk (``chaosrunner.spool``).

    .venv/bin/python benchmarks/memory_bench.py [--minutes 10] [--against REV]

Each tree runs the same workload in a process of its own, both at once, against targets in a third
(an aiohttp server on free loopback ports): 4 http probes on chaosrunner's ``Sampler`` every 250 ms,
the integrity ``Writer`` at 50 writes/s (http sink), and 4 rows of load statistics a second appended
to the timeline (what the Locust reader adds: the aggregate and 3 endpoints). "after" is this tree
with the timeline spooled into a temporary run folder (as ``chaosrunner run`` does, keeping the last
5 minutes in memory); "before" is ``--against REV`` (default HEAD), extracted with ``git archive``,
as it ran. RSS is read every 30 s after a full garbage collection; the growth rate is the
least-squares slope over the run after its first minute, and (after) over the part past the
5 minutes kept in memory, where it must be flat: below a fifth of the growth before (what is left
is the writer's 16 bytes a write, about 0.05 MB a minute at 50/s). At the end, the spooled timeline is read back
whole, as a run does before its analysis, and checked complete.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaosrunner.demo.inventory import free_ports

ROOT = Path(__file__).resolve().parent.parent


def serve(port: int) -> None:
    from aiohttp import web

    kv: dict[str, str] = {}

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def put(request: web.Request) -> web.Response:
        kv[request.match_info["key"]] = await request.text()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_put("/kv/{key}", put)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def worker(port: int, minutes: float, spool: str | None) -> None:
    """The workload, in the tree on sys.path; prints one JSON line per reading."""
    import gc
    import inspect
    import threading

    import aiohttp
    import psutil

    from chaosrunner.execute.sampling import Sampler
    from chaosrunner.probes.base import Outcome
    from chaosrunner.timeline import LoadStat, Timeline
    from chaosrunner.writer import Writer, WriterSpec

    class Health:
        def __init__(self, name: str, url: str, session: aiohttp.ClientSession):
            self.name, self.url, self.session, self.timeout = name, url, session, 2.0

        async def check(self) -> Outcome:
            async with self.session.get(self.url) as resp:
                await resp.read()
                return Outcome(resp.status == 200, resp.status, None)

        async def close(self) -> None:
            return None

    async def main() -> None:
        tl = Timeline()
        if spool:
            tl.spool_to(Path(spool))
        extra = {"fine": 0.025, "stable_for": 3.0} if "fine" in inspect.signature(Sampler).parameters else {}
        proc = psutil.Process()
        writer = Writer(WriterSpec(type="http", url=f"http://127.0.0.1:{port}/kv", rate="50/s", timeout="1s"))
        writer.start(tl, "memory")
        stop = threading.Event()

        def load_stats() -> None:        # as the Locust reader thread does: 4 rows a second
            while not stop.wait(1.0):
                t = tl.now()
                for name in ("Aggregated", "GET /configs/{key}", "PUT /configs/{key}", "GET /fleet/status"):
                    tl.add_load_stat(LoadStat(t, name, 100, 0, 100.0, 2.0, 4.0, 8.0, 2.5, 12.0))

        feeder = threading.Thread(target=load_stats, daemon=True)
        feeder.start()
        async with aiohttp.ClientSession() as session:
            probes = [Health(f"p{i}", f"http://127.0.0.1:{port}/health", session) for i in range(4)]
            sampler = Sampler(probes, tl, 0.25, **extra)
            sampler.start()
            start = time.monotonic()
            while True:
                gc.collect()
                elapsed = time.monotonic() - start
                print(json.dumps({"t": elapsed, "rss": proc.memory_info().rss, "samples": len(tl.samples),
                                  "writes": len(tl.writes)}), flush=True)
                if elapsed >= minutes * 60:
                    break
                await asyncio.sleep(min(30.0, minutes * 60 - elapsed + 0.01))
            await sampler.stop()
        stop.set()
        writer.stop()
        writer.close()
        if spool:
            t = time.perf_counter()
            tl.unspool()
            print(json.dumps({"unspooled": time.perf_counter() - t, "samples": len(tl.samples),
                              "writes": len(tl.writes), "load_stats": len(tl.load_stats)}), flush=True)

    asyncio.run(main())


def slope(points: list[tuple[float, float]]) -> float:
    """MB per minute, least squares."""
    xs, ys = [t / 60 for t, _ in points], [r / 2**20 for _, r in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--against", default="HEAD", help="the git revision measured as 'before' (git archive)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.worker:
        port, minutes, spool = args.worker
        worker(int(port), float(minutes), None if spool == "-" else spool)
        return 0
    [port] = free_ports(1)
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        before_tree = Path(tmp) / "before"
        before_tree.mkdir()
        archive = subprocess.run(["git", "archive", args.against, "chaosrunner"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive, check=True)
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            workers = {
                f"before ({args.against})": subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(port), str(args.minutes), "-"], stdout=subprocess.PIPE,
                    text=True, env={**os.environ, "PYTHONPATH": str(before_tree)}, cwd=tmp),
                "after (spooled)": subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(port), str(args.minutes), str(run_dir)],
                    stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp),
            }
            outputs = {name: p.communicate()[0] for name, p in workers.items()}
        finally:
            server.kill()
            server.wait()
    print(f"memory over {args.minutes:g} minutes: 4 probes every 250 ms, writer 50/s, 4 load-stat rows/s")
    ok, before_slope = True, 0.0
    for name, out in outputs.items():                 # before first: "flat" is judged against its growth
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        points = [(r["t"], r["rss"]) for r in rows if "rss" in r]
        print(f"  {name}: RSS " + " ".join(f"{r / 2**20:.1f}" for _, r in points) + " MB (every 30 s)")
        settled = [p for p in points if p[0] >= 60]
        whole = slope(settled if len(settled) >= 2 else points)
        line = f"    growth after the first minute: {whole:+.3f} MB/min"
        if "after" in name:
            late = [p for p in points if p[0] >= 330]
            if len(late) >= 3:
                flat = slope(late)
                line += f"; past the 5 minutes kept in memory: {flat:+.3f} MB/min"
                ok &= flat < 0.2 * before_slope
            done = [r for r in rows if "unspooled" in r]
            if done:
                d = done[0]
                line += (f"; read back whole at the end in {d['unspooled']:.2f}s: {d['samples']:,} samples, "
                         f"{d['writes']:,} writes, {d['load_stats']:,} load-stat rows")
        else:
            before_slope = whole
            line += f"; extrapolated to 8 hours: {whole * 480:.0f} MB"
        print(line)
    print("flat" if ok else "NOT FLAT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
