"""Benchmark of the embedded demo system: startup time and API throughput through router and proxies.

Prints:
1. ``demo up`` to healthy (every component answering and the full path serving ``/health``), over
   ``--starts`` cold starts (each followed by ``demo down``): min / median / max; target < 5 s;
2. keep-alive throughput and latency with wrk at a fixed connection count (closed loop), against
   the front door: ``GET /configs/{key}`` (router → proxy → API → proxy → proxy → store primary),
   ``PUT /configs/{key}`` (the same path, plus a SQLite commit), ``GET /fleet/status`` (external
   service) — req/s and p50 / p99; target ≥ 500 req/s with p99 < 50 ms;
3. controlled switchovers under steady traffic (``chaosrunner.demo.drill``): ``--switchovers``
   ``POST /switchover`` calls, store-b and back to store-a in turn, while writers and readers go
   through the router: the longest pause of a request during a switchover (target < 2 s, the API
   nodes' hold bound), the failed requests and the acknowledged writes missing afterwards (target 0).

Usage: ``.venv/bin/python benchmarks/demo_bench.py [--duration 8] [--connections 8] [--starts 3]
[--switchovers 6]``.
Needs /usr/bin/wrk. Loopback only; free ports; the demo runs in a temporary directory.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaosrunner.demo import start_demo, stop_demo  # noqa: E402
from chaosrunner.demo.api import SWITCHOVER_HOLD  # noqa: E402
from chaosrunner.demo.drill import switchover_drill  # noqa: E402

PUT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/configs/bench-" .. (counter % 1000), nil, "route: " .. counter)
end
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, duration: int, script: Path | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50": _ms(pct["50"]), "p99": _ms(pct["99"]), "non2xx": float(errors.group(1)) if errors else 0.0,
            "socket_errors": 1.0 if socket_errors else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--switchovers", type=int, default=6, help="controlled switchovers under traffic (0: none)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (/usr/bin/wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for i in range(args.starts):
            demo = start_demo(Path(tmp) / f"demo{i}", free_ports=True)
            times.append(demo.startup_seconds)
            stop_demo(demo.dir)
        print(f"demo up -> healthy over {args.starts} cold starts: min {min(times):.2f}s, "
              f"median {statistics.median(times):.2f}s, max {max(times):.2f}s (target < 5 s)")
        demo = start_demo(Path(tmp) / "bench", free_ports=True)
        try:
            base = demo.url("router")
            urllib.request.urlopen(urllib.request.Request(f"{base}/configs/bench", data=b"x", method="PUT")).read()
            lua = Path(tmp) / "put.lua"
            lua.write_text(PUT_LUA)
            cases = [("GET /configs/{key}", f"{base}/configs/bench", None),
                     ("PUT /configs/{key}", base, lua),
                     ("GET /fleet/status", f"{base}/fleet/status", None)]
            print(f"wrk, 1 thread, {args.connections} keep-alive connections, {args.duration}s each, "
                  "through router + proxies:")
            for name, url, script in cases:
                r = wrk(url, args.connections, args.duration, script)
                verdict = "ok" if r["rps"] >= 500 and r["p99"] < 50 else "BELOW TARGET"
                print(f"  {name:20s} {r['rps']:8.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
                      f"non-2xx {r['non2xx']:.0f}  [{verdict}: >= 500 req/s, p99 < 50 ms]")
            if args.switchovers:
                drill = asyncio.run(switchover_drill(base, demo.url("supervisor"), switchovers=args.switchovers))
                took = [s.took for s in drill.switchovers]
                ok = not drill.failed and not drill.missing and drill.longest_pause < SWITCHOVER_HOLD \
                    and all(s.status == 200 for s in drill.switchovers)
                print(f"switchovers under traffic (4 writers, 2 readers through the router, "
                      f"{args.switchovers} x POST /switchover, store-b and back):")
                print(f"  switchover answered in {min(took) * 1000:.0f}-{max(took) * 1000:.0f} ms; "
                      f"{len(drill.during_switchovers())} of {len(drill.requests)} requests overlapped one; "
                      f"longest pause {drill.longest_pause * 1000:.0f} ms; failed requests {len(drill.failed)}; "
                      f"acknowledged writes missing {len(drill.missing)}  "
                      f"[{'ok' if ok else 'BELOW TARGET'}: pause < {SWITCHOVER_HOLD:g} s, 0 failed, 0 missing]")
        finally:
            stop_demo(demo.dir)


if __name__ == "__main__":
    main()
