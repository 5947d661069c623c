"""Benchmark of the embedded fault proxy against a direct connection to the same upstream.

Starts its own nginx (temporary config, free loopback port) as the upstream and the proxy server
in a child process (``python -m chaosrunner.proxy serve``, uvloop), then prints:

1. keep-alive throughput at 50 connections (wrk), proxied / direct;
2. added latency at a fixed 1,000 req/s (a rate-limited asyncio client, latency measured from each
   request's scheduled send time, so a stall is not hidden): p50/p99 proxied − direct;
3. latency toxic precision: ``latency: 100`` over 500 requests, added delay p50 / p99 − 100 ms;
4. time to create 1,000 proxies through ``/populate``;
5. 1,000 concurrent keep-alive connections through one proxy, used, held 1 s, used again: errors.

Usage: ``.venv/bin/python benchmarks/proxy_bench.py [--duration 5]``. Needs /usr/sbin/nginx and
/usr/bin/wrk (Debian ``nginx-light`` and ``wrk``). Loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaosrunner.proxy import start_subprocess  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Nginx:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="proxy-bench-nginx-"))
        self.port = free_port()
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.port))
        self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", str(self.tmp), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start: " + (self.tmp / "error.log").read_text(errors="replace"))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def api(url: str, method: str = "GET", body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None


def wrk(port: int, seconds: int, connections: int = 50) -> float:
    out = subprocess.run(["/usr/bin/wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    wrk reported: {errors.group(0)}")
    return float(match.group(1)) if match else 0.0


class HttpConn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection issuing one request at a time (responses are nginx's fixed ``ok``)."""

    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None
        self.buffer = b""
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"ok\n")
        if end >= 0 and self.waiter is not None and not self.waiter.done():
            self.buffer = self.buffer[end + 3:]
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(REQUEST)  # type: ignore[attr-defined]
        await self.waiter


async def open_conns(port: int, count: int) -> list[HttpConn]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(count):
        _t, conn = await loop.create_connection(HttpConn, "127.0.0.1", port)
        conns.append(conn)
    return conns


async def fixed_rate(port: int, rate: int, seconds: float, connections: int = 20) -> list[float]:
    """Latencies (s) of ``rate`` req/s for ``seconds``, each measured from its scheduled send time."""
    conns = await open_conns(port, connections)
    free: asyncio.Queue[HttpConn] = asyncio.Queue()
    for conn in conns:
        free.put_nowait(conn)
    latencies: list[float] = []
    start = time.perf_counter() + 0.1

    async def one(due: float) -> None:
        # From the scheduled time (a wait for a free connection counts), or from the actual start
        # when the timer woke up early (uvloop's timers have 1 ms granularity).
        began = max(due, time.perf_counter())
        conn = await free.get()
        await conn.request()
        latencies.append(time.perf_counter() - began)
        free.put_nowait(conn)

    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    for conn in conns:
        conn.transport.close()  # type: ignore[attr-defined]
    return latencies


async def sequential_rtts(port: int, connections: int, each: int) -> list[float]:
    conns = await open_conns(port, connections)

    async def run(conn: HttpConn) -> list[float]:
        out = []
        for _ in range(each):
            t = time.perf_counter()
            await conn.request()
            out.append(time.perf_counter() - t)
        return out

    results = await asyncio.gather(*(run(c) for c in conns))
    for conn in conns:
        conn.transport.close()  # type: ignore[attr-defined]
    return [x for r in results for x in r]


async def hold_many(port: int, count: int, hold: float) -> tuple[int, int]:
    """Open ``count`` keep-alive connections, use each, hold them, use each again: (ok, errors)."""
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(*(loop.create_connection(HttpConn, "127.0.0.1", port) for _ in range(count)),
                                   return_exceptions=True)
    conns = [c for _t, c in (r for r in results if not isinstance(r, BaseException))]
    errors = count - len(conns)
    for _round in range(2):
        outcomes = await asyncio.gather(*(asyncio.wait_for(c.request(), 10) for c in conns), return_exceptions=True)
        errors += sum(isinstance(o, BaseException) for o in outcomes)
        await asyncio.sleep(hold)
    for conn in conns:
        conn.transport.close()  # type: ignore[attr-defined]
    return len(conns), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run and per fixed-rate run")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 16384), hard), hard))
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    runner = asyncio.Runner(loop_factory=loop_factory)

    nginx = Nginx()
    server = start_subprocess(port=0)
    try:
        proxy = api(f"{server.api_url}/proxies", "POST",
                    {"name": "nginx", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{nginx.port}"})
        pport = int(proxy["listen"].rsplit(":", 1)[1])  # type: ignore[index]
        print(f"upstream nginx 127.0.0.1:{nginx.port}; proxy 127.0.0.1:{pport}; API {server.api_url}")

        print("1. keep-alive throughput, 50 connections (wrk -t1 -c50)")
        wrk(nginx.port, 1)
        direct = wrk(nginx.port, args.duration)
        proxied = wrk(pport, args.duration)
        print(f"   direct {direct:,.0f} req/s · proxied {proxied:,.0f} req/s · ratio {proxied / direct:.2f}"
              f" (target ≥ 0.35)")

        print("2. fixed 1,000 req/s, latency from scheduled send time")
        d = runner.run(fixed_rate(nginx.port, 1000, args.duration))
        p = runner.run(fixed_rate(pport, 1000, args.duration))
        for name, values in (("direct", d), ("proxied", p)):
            print(f"   {name:8s} p50 {percentile(values, 50) * 1e3:.3f} ms · p99 {percentile(values, 99) * 1e3:.3f} ms")
        print(f"   added p50 {(percentile(p, 50) - percentile(d, 50)) * 1e3:.3f} ms · "
              f"added p99 {(percentile(p, 99) - percentile(d, 99)) * 1e3:.3f} ms (target ≤ 1 ms)")

        print("3. latency toxic precision, latency 100 ms, 500 requests (20 connections × 25)")
        base = statistics.median(runner.run(sequential_rtts(pport, 20, 25)))
        api(f"{server.api_url}/proxies/nginx/toxics", "POST", {"type": "latency", "attributes": {"latency": 100}})
        rtts = runner.run(sequential_rtts(pport, 20, 25))
        api(f"{server.api_url}/proxies/nginx/toxics/latency_downstream", "DELETE")
        added = [(r - base) * 1e3 for r in rtts]
        print(f"   added delay p50 {percentile(added, 50):.2f} ms ({percentile(added, 50) - 100:+.2f}, target ±2) · "
              f"p99 {percentile(added, 99):.2f} ms ({percentile(added, 99) - 100:+.2f}, target ±5) · "
              f"min {min(added):.2f} · max {max(added):.2f}")

        print("4. 1,000 concurrent keep-alive connections through one proxy: request, hold 1 s, request again")
        opened, errors = runner.run(hold_many(pport, 1000, 1.0))
        print(f"   connections {opened} · errors {errors}")
    finally:
        server.stop()

    print("5. 1,000 proxies through /populate (fresh server)")
    fresh = start_subprocess(port=0)
    try:
        body = [{"name": f"p{i}", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{nginx.port}"} for i in range(1000)]
        t = time.perf_counter()
        result = api(f"{fresh.api_url}/populate", "POST", body)
        elapsed = time.perf_counter() - t
        count = len(result["proxies"])  # type: ignore[index]
        print(f"   {count} proxies in {elapsed:.3f} s (target < 2 s)")
    finally:
        fresh.stop()
        nginx.stop()
        runner.close()


if __name__ == "__main__":
    main()
