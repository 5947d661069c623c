"""Load benchmark: stats delivery lag, Locust workers=2 vs 1 throughput, runner CPU with load on.

Starts its own nginx (Debian nginx-light, temp config, free loopback port) as the fast local
server and runs Locust through ``chaosrunner.traffic.LoadRunner``, as an experiment would.

    .venv/bin/python benchmarks/load_bench.py [--seconds 6] [--repeat 2] [--users 100]

Figures printed:
1. delivery lag: end of each measured second -> its LoadStat on the timeline (target < 2 s);
2. requests/s with ``workers: 1`` and ``workers: 2`` (and the single-process mode), ratio
   (target >= 1.6x on a 2-core machine);
3. CPU of this (runner) process while Locust runs and 4 probes are sampled every 250 ms
   (2 http probes against nginx, 2 metric probes over the load stats) (target < 10 % of a core);
4. Locust killed (SIGKILL) mid-run -> the runner's ``on_died`` call, single process and with
   2 workers (the master killed) (target < 2 s).
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaosrunner.traffic import LoadRunner  # noqa: E402
from chaosrunner.model.probes import HttpProbeSpec, MetricProbeSpec  # noqa: E402
from chaosrunner.probes import ProbeContext, build_probe  # noqa: E402
from chaosrunner.timeline import Timeline  # noqa: E402

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nginx(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nginx did not start")


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


OTHERS: dict[int, list[float]] = {0: [], 1: [], 2: []}


def run_load(url: str, run_dir: Path, seconds: float, workers: int, users: int,
             nginx_pid: int | None = None) -> tuple[Timeline, LoadRunner]:
    tl = Timeline()
    spec = {"http": {"host": url, "paths": ["/"]}, "users": users, "spawn_rate": 1000, "workers": workers}
    runner = LoadRunner(spec, run_dir, tl, run_time=seconds + 30)
    runner.preflight()
    runner.start()
    assert runner._proc is not None
    time.sleep(1.0)
    main = psutil.Process(runner._proc.pid)
    pids = [main.pid] + [c.pid for c in main.children(recursive=True)]
    if nginx_pid:
        pids += [nginx_pid] + [c.pid for c in psutil.Process(nginx_pid).children()]
    pids.append(psutil.Process().pid)
    sys0, ours0, t0 = psutil.cpu_times(), _tree_cpu(pids), time.monotonic()
    time.sleep(max(1.0, seconds - 1.0))
    sys1, ours1, elapsed = psutil.cpu_times(), _tree_cpu(pids), time.monotonic() - t0
    busy = sum(getattr(sys1, f) - getattr(sys0, f) for f in ("user", "system", "nice", "irq", "softirq"))
    # CPU (in cores) that processes outside this benchmark took while it measured
    OTHERS[workers].append(max(0.0, (busy - (ours1 - ours0)) / elapsed))
    runner.stop()
    return tl, runner


def steady_rps(tl: Timeline, skip: int = 2) -> float:
    rows = [s for s in tl.load_stats if s.name == "Aggregated" and s.requests]
    rows = rows[skip:-1] or rows
    return statistics.mean(s.rps for s in rows) if rows else 0.0


async def sample_probes(ctx: ProbeContext, url: str, seconds: float, interval: float = 0.25) -> int:
    specs = [HttpProbeSpec.model_validate({"type": "http", "url": url + "/health"}),
             HttpProbeSpec.model_validate({"type": "http", "url": url + "/ready"}),
             MetricProbeSpec.model_validate({"type": "metric", "name": "p99_latency", "threshold": "500ms",
                                             "source": "load"}),
             MetricProbeSpec.model_validate({"type": "metric", "name": "error_rate", "threshold": "1%",
                                             "source": "load"})]
    probes = [build_probe(s, f"p{i}", ctx) for i, s in enumerate(specs)]
    loop = asyncio.get_running_loop()
    count = 0

    async def one(probe: object) -> None:
        nonlocal count
        deadline = loop.time()
        end = deadline + seconds
        while deadline < end:
            try:
                await asyncio.wait_for(probe.check(), 2.0)  # type: ignore[attr-defined]
            except Exception:
                pass
            count += 1
            deadline += interval          # fixed deadlines, as the engine's sampler
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    await asyncio.gather(*(one(p) for p in probes))
    for p in probes:
        await p.close()
    return count


def death_notice(url: str, run_dir: Path, workers: int) -> float:
    """Seconds from SIGKILL of the Locust (master) process to the runner's ``on_died`` call."""
    died = threading.Event()
    runner = LoadRunner({"http": {"host": url, "paths": ["/"]}, "users": 5, "spawn_rate": 100, "workers": workers},
                        run_dir, Timeline(), run_time=60, on_died=lambda reason: died.set())
    runner.preflight()
    runner.start()
    try:
        time.sleep(1.0)
        assert runner._proc is not None
        killed = time.monotonic()
        runner._proc.kill()
        if not died.wait(30):
            return float("inf")
        return time.monotonic() - killed
    finally:
        runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of load per measurement")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions; the best of each is kept "
                                                              "(other work on a shared machine only slows a run)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="load-bench-"))
    nginx, url = start_nginx(tmp)
    print(f"load benchmark: nginx at {url}, {psutil.cpu_count()} CPUs, {args.seconds:g}s per measurement")
    try:
        # 2. throughput: one process, master + 1 worker, master + 2 workers
        runs: dict[int, list[float]] = {0: [], 1: [], 2: []}
        lags: list[float] = []
        for rep in range(args.repeat):
            for workers in (0, 1, 2):
                tl, runner = run_load(url, tmp / f"w{workers}-{rep}", args.seconds, workers, args.users, nginx.pid)
                runs[workers].append(steady_rps(tl))
                lags += runner.delivery_lags
        rps = {w: max(v) for w, v in runs.items()}
        for workers, values in runs.items():
            print(f"  workers={workers}: best {rps[workers]:8.0f} requests/s  "
                  f"(runs: {', '.join(f'{v:.0f}' for v in values)}; other processes used "
                  f"{', '.join(f'{o:.2f}' for o in OTHERS[workers])} cores meanwhile)")
        ratio = rps[2] / rps[1] if rps[1] else float("nan")
        print(f"throughput workers=2 / workers=1: {ratio:.2f}x  (target >= 1.6x); "
              f"workers=2 / single process: {rps[2] / rps[0]:.2f}x")

        # 1. + 3. runner CPU with load on (rate-limited, as in an experiment) and 4 probes at 250 ms
        tl = Timeline()
        spec = {"http": {"host": url, "paths": ["/"]}, "users": 20, "spawn_rate": 1000, "rate": "500/s"}
        runner = LoadRunner(spec, tmp / "cpu", tl, run_time=args.seconds + 30)
        runner.preflight()
        runner.start()
        time.sleep(1.5)
        me = psutil.Process()
        before, t0 = me.cpu_times(), time.monotonic()
        samples = asyncio.run(sample_probes(ProbeContext(timeline=tl), url, args.seconds))
        after, elapsed = me.cpu_times(), time.monotonic() - t0
        runner.stop()
        lags += runner.delivery_lags
        cpu = (after.user - before.user + after.system - before.system) / elapsed
        print(f"stats delivery lag over {len(lags)} seconds: median {statistics.median(lags) * 1000:.0f} ms, "
              f"max {max(lags) * 1000:.0f} ms  (target < 2000 ms)")
        print(f"runner process CPU with load at 500 req/s and 4 probes every 250 ms ({samples} samples): "
              f"{cpu * 100:.1f} % of one core  (target < 10 %)")

        # 4. Locust dying mid-run is noticed
        for workers in (0, 2):
            notices = [death_notice(url, tmp / f"death-{workers}-{i}", workers) for i in range(args.repeat + 1)]
            print(f"Locust killed mid-run (workers={workers}), noticed after: median "
                  f"{statistics.median(notices) * 1000:.0f} ms, max {max(notices) * 1000:.0f} ms "
                  f"over {len(notices)} kills  (target < 2000 ms)")
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
