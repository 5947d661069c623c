"""Accuracy benchmark: RTO, lost writes and RPO against scripted targets with known answers.

The scripted targets run in a separate process (an aiohttp server on free loopback ports) so
the measuring process and the target never share an event loop.

    .venv/bin/python benchmarks/accuracy_bench.py [--runs 20] [--outage 7.0] [--jitter-seconds 40] [--only abc]

Figures printed:
(a) RTO: ``--runs`` targets, each healthy until its fault is injected and unhealthy for exactly
    ``--outage`` seconds (the server flips its health on a timer), sampled every 250 ms by
    chaosrunner's fixed-deadline ``Sampler``; RTO measured by ``analyse.recovery``. The fault is
    injected at a random phase of the sampling schedule. Target: every error within
    ± (interval + 50 ms).
(b) RPO: the ``Writer`` (http sink) against a store that acknowledges but silently drops
    every write it receives during a known window; lost count must equal the store's own count
    of dropped writes, RPO measured within ± one write interval of the window's length.
(c) Sampling jitter: 4 probes every 250 ms, one of them answering in 600 ms; lateness of every
    sample's start against its deadline. Target: p99 < 20 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaosrunner.analyse.integrity import integrity  # noqa: E402
from chaosrunner.analyse.recovery import recovery_from_timeline  # noqa: E402
from chaosrunner.probes.base import Outcome  # noqa: E402
from chaosrunner.execute.sampling import Sampler  # noqa: E402
from chaosrunner.timeline import EventKind, Timeline  # noqa: E402
from chaosrunner.writer import Writer, WriterSpec  # noqa: E402

INTERVAL = 0.25
STABLE_FOR = 3.0


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# -- the scripted targets (run with --serve in a child process) ------------------------------
def serve(ports: list[int]) -> None:
    from aiohttp import web

    async def main() -> None:
        runners = []
        for port in ports:
            state = {"healthy": True, "drop_until": {}, "kv": {}, "dropped": {}}

            async def health(request: web.Request, state: dict = state) -> web.Response:
                return web.Response(status=200 if state["healthy"] else 503)

            async def fault(request: web.Request, state: dict = state) -> web.Response:
                # unhealthy from now for exactly `seconds`, on the server's own timer
                seconds = float(request.query["seconds"])
                state["healthy"] = False
                asyncio.get_running_loop().call_later(seconds, state.__setitem__, "healthy", True)
                return web.Response(text="ok")

            async def slow(request: web.Request) -> web.Response:
                await asyncio.sleep(float(request.query.get("seconds", "0.6")))
                return web.Response(text="slow")

            async def drop(request: web.Request, state: dict = state) -> web.Response:
                run, seconds = request.query["run"], float(request.query["seconds"])
                state["drop_until"][run] = asyncio.get_running_loop().time() + seconds
                return web.Response(text="ok")

            async def put(request: web.Request, state: dict = state) -> web.Response:
                key, body = request.match_info["key"], await request.text()
                run = key.split("-")[1]
                if asyncio.get_running_loop().time() < state["drop_until"].get(run, 0.0):
                    state["dropped"].setdefault(run, []).append(key)   # acknowledged, never stored
                else:
                    state["kv"][key] = body
                return web.Response(status=204)

            async def get(request: web.Request, state: dict = state) -> web.Response:
                value = state["kv"].get(request.match_info["key"])
                return web.Response(status=404) if value is None else web.Response(text=value)

            async def dropped(request: web.Request, state: dict = state) -> web.Response:
                return web.json_response(state["dropped"].get(request.query["run"], []))

            app = web.Application()
            app.router.add_get("/health", health)
            app.router.add_post("/fault", fault)
            app.router.add_get("/slow", slow)
            app.router.add_post("/drop", drop)
            app.router.add_get("/dropped", dropped)
            app.router.add_put("/kv/{key}", put)
            app.router.add_get("/kv/{key}", get)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            runners.append(runner)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class HttpHealth:
    """A minimal probe (the ``Probe`` protocol): GET a URL, 200 = ok, over one keep-alive session."""

    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, timeout: float = 2.0):
        self.name, self.url, self.session, self.timeout = name, url, session, timeout

    async def check(self) -> Outcome:
        async with self.session.get(self.url) as resp:
            await resp.read()
            return Outcome(resp.status == 200, resp.status, None if resp.status == 200 else f"HTTP {resp.status}")

    async def close(self) -> None:
        return None


# -- (a) RTO ----------------------------------------------------------------------------------
async def one_rto_run(port: int, outage: float, session: aiohttp.ClientSession) -> float:
    tl = Timeline()
    sampler = Sampler([HttpHealth("health", f"http://127.0.0.1:{port}/health", session)], tl, INTERVAL)
    sampler.start()
    await asyncio.sleep(1.0 + random.random())          # a random phase against the sampling schedule
    async with session.post(f"http://127.0.0.1:{port}/fault", params={"seconds": str(outage)}) as resp:
        await resp.read()
    tl.event(EventKind.FAULT_INJECTED, fault_id="f", target="scripted", type="scripted")   # driver confirmed
    await asyncio.sleep(outage + STABLE_FOR + 1.0)
    tl.event(EventKind.FAULT_REVERTED, fault_id="f", target="scripted", type="scripted")
    await sampler.stop()
    (res,) = recovery_from_timeline(tl, ["health"], INTERVAL, STABLE_FOR)
    return res.recovery_time


async def bench_rto(ports: list[int], outage: float) -> bool:
    async with aiohttp.ClientSession() as session:
        measured = await asyncio.gather(*(one_rto_run(p, outage, session) for p in ports))
    errors = [m - outage for m in measured]
    bound = INTERVAL + 0.05
    ok = all(abs(e) <= bound for e in errors)
    print(f"(a) RTO, true outage {outage:.1f}s, interval {INTERVAL * 1000:.0f}ms, stable_for {STABLE_FOR:g}s, "
          f"{len(ports)} runs")
    print(f"    measured: min {min(measured):.3f}s  mean {statistics.mean(measured):.3f}s  "
          f"max {max(measured):.3f}s")
    print(f"    error:    min {min(errors) * 1000:+.0f}ms  mean {statistics.mean(errors) * 1000:+.0f}ms  "
          f"max {max(errors) * 1000:+.0f}ms   (bound ±{bound * 1000:.0f}ms) -> {'PASS' if ok else 'FAIL'}")
    return ok


# -- (b) lost writes and RPO ----------------------------------------------------------------
def one_rpo_run(port: int, run: str, rate: float, window: float) -> tuple[int, int, float, float]:
    base = f"http://127.0.0.1:{port}"
    tl = Timeline()
    writer = Writer(WriterSpec(type="http", url=f"{base}/kv", rate=rate, timeout=1.0, prefix="bench"))
    writer.start(tl, run)
    try:
        time.sleep(1.0)
        urllib.request.urlopen(urllib.request.Request(f"{base}/drop?run={run}&seconds={window}", method="POST"),
                               timeout=5).read()
        time.sleep(window + 1.0)
        writer.stop()
        back = writer.readback()
    finally:
        writer.close()
    truth = json.loads(urllib.request.urlopen(f"{base}/dropped?run={run}", timeout=5).read())
    res = integrity(back, 1.0 / rate)
    return res.lost, len(truth), res.rpo, 1.0 / rate


def bench_rpo(port: int) -> bool:
    cases = [(20.0, 0.5), (20.0, 2.0), (50.0, 1.0), (50.0, 3.3)]
    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda c: one_rpo_run(port, f"r{c[0]:g}x{c[1]:g}".replace(".", "p"), *c), cases))
    ok_all = True
    print("(b) lost writes and RPO against a store dropping every write it acknowledges in a known window")
    for (rate, window), (lost, truth, rpo, period) in zip(cases, results, strict=True):
        ok = lost == truth and abs(rpo - window) <= period
        ok_all &= ok
        print(f"    {rate:>4g}/s, window {window:.1f}s: lost {lost} (store dropped {truth}), RPO {rpo:.3f}s "
              f"(error {(rpo - window) * 1000:+.0f}ms, bound ±{period * 1000:.0f}ms) -> {'PASS' if ok else 'FAIL'}")
    return ok_all


# -- (c) sampling jitter ----------------------------------------------------------------------
async def bench_jitter(port: int, seconds: float) -> bool:
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{port}"
        probes = [HttpHealth(f"fast{i}", f"{base}/health", session) for i in range(3)]
        probes.append(HttpHealth("slow", f"{base}/slow?seconds=0.6", session))
        tl = Timeline()
        sampler = Sampler(probes, tl, INTERVAL)
        origin = tl.to_run_clock(asyncio.get_running_loop().time())
        sampler.start()
        await asyncio.sleep(seconds)
        await sampler.stop()
    late = [s.start - (origin + round((s.start - origin) / INTERVAL) * INTERVAL) for s in tl.samples]
    late_ms = sorted(abs(x) * 1000 for x in late)
    p50, p99 = late_ms[len(late_ms) // 2], late_ms[min(len(late_ms) - 1, int(len(late_ms) * 0.99))]
    slow = [s for s in tl.samples if s.probe == "slow"]
    ok = p99 < 20
    print(f"(c) sampling jitter, 4 probes every {INTERVAL * 1000:.0f}ms for {seconds:g}s, one answering in 600ms")
    print(f"    {len(late_ms)} samples ({len(slow)} of the slow probe, "
          f"{sum(s.ok for s in slow)} ok): start lateness p50 {p50:.2f}ms  p99 {p99:.2f}ms  "
          f"max {late_ms[-1]:.2f}ms (target p99 < 20ms) -> {'PASS' if ok else 'FAIL'}")
    stragglers = [(s, x) for s, x in zip(tl.samples, late, strict=True) if abs(x) > 0.02]
    if stragglers:
        # every probe late at the same deadline = the whole process stalled (CPU contention, GC),
        # not one probe delaying the others
        deadlines = {round((s.start - origin) / INTERVAL) for s, _ in stragglers}
        print(f"    {len(stragglers)} sample(s) late by > 20ms, at {len(deadlines)} deadline(s): "
              + ", ".join(f"{s.probe}@{s.start - origin:.2f}s +{x * 1000:.0f}ms" for s, x in stragglers[:8]))
    fast_late = sorted(abs(x) * 1000 for s, x in zip(tl.samples, late, strict=True) if s.probe != "slow")
    fast_p99 = fast_late[min(len(fast_late) - 1, int(len(fast_late) * 0.99))]
    print(f"    the three fast probes alone: p99 {fast_p99:.2f}ms")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--outage", type=float, default=7.0)
    ap.add_argument("--jitter-seconds", type=float, default=40.0)
    ap.add_argument("--only", default="abc", help="which parts to run, e.g. ac")
    ap.add_argument("--serve", nargs="*", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    ports = free_ports(args.runs + 2)
    server = subprocess.Popen([sys.executable, __file__, "--serve", *map(str, ports)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        ok = True
        if "a" in args.only:
            ok &= asyncio.run(bench_rto(ports[:args.runs], args.outage))
        if "b" in args.only:
            ok &= bench_rpo(ports[-2])
        if "c" in args.only:
            ok &= asyncio.run(bench_jitter(ports[-1], args.jitter_seconds))
    finally:
        server.kill()
        server.wait()
    print("all within bounds" if ok else "SOME FIGURES OUT OF BOUNDS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
