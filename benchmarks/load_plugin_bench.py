"""The Locust plugin's cost per request, with the users'-recovery instants it records (issue 17).

Runs ``chaosrunner/traffic/locust_plugin.py``'s request listener (the function Locust calls for
every request) in this process — it imports locust, so never run it inside chaosrunner — for
all-ok requests, all-failed ones and one failure in ten, and prints nanoseconds per request (best
of ``--repeat``), and the size of one second's JSON record for ``--endpoints`` endpoints: what the
plugin holds and sends per second does not grow with the request rate, failures included.

    .venv/bin/python benchmarks/load_plugin_bench.py [--requests 200000] [--repeat 5] [--endpoints 10]
    git show HEAD~1:chaosrunner/traffic/locust_plugin.py > /tmp/old.py
    .venv/bin/python benchmarks/load_plugin_bench.py --plugin /tmp/old.py      # another version, to compare
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "chaosrunner" / "traffic" / "locust_plugin.py"


def load_plugin(path: Path):  # type: ignore[no-untyped-def]
    os.environ.pop("CHAOSRUNNER_LOAD_STATS", None)
    spec = importlib.util.spec_from_file_location("chaosrunner_locust_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_request(plugin, n: int, repeat: int, fail_every: int | None) -> float:  # type: ignore[no-untyped-def]
    on_request, error = plugin._on_request, ConnectionRefusedError(111, "refused")
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(n):
            failed = fail_every is not None and i % fail_every == 0
            on_request("GET", "/configs/[key]", 12.3, exception=error if failed else None, url="/configs/1")
        best = min(best, (time.perf_counter() - t) / n * 1e9)
        plugin._buckets.clear()
        plugin._current[0] = None
    return best


def record_size(plugin, endpoints: int, n: int) -> int:  # type: ignore[no-untyped-def]
    """Bytes of one second's record after ``n`` requests (one in ten failed) over ``endpoints`` endpoints."""
    plugin._buckets.clear()
    plugin._current[0] = None
    error = ConnectionRefusedError(111, "refused")
    for i in range(n):
        plugin._on_request("GET", f"/e{i % endpoints}", 5.0 + i % 50, exception=error if i % 10 == 0 else None,
                           url=f"/e{i % endpoints}")
    sent: list[bytes] = []
    plugin._send = sent.append
    for sec, bucket in list(plugin._buckets.items()):
        plugin._last_sent["sec"] = -1
        plugin._emit(1, sec, bucket, None)
    return max(len(line) for line in sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--plugin", type=Path, default=PLUGIN, help="the plugin file to measure")
    args = parser.parse_args()
    plugin = load_plugin(args.plugin)
    print(f"plugin: {args.plugin}")
    for label, every in (("every request ok", None), ("one in ten failed", 10), ("every request failed", 1)):
        print(f"{label:>22}: {per_request(plugin, args.requests, args.repeat, every):7.0f} ns/request")
    for n in (1_000, 100_000):
        size = record_size(plugin, args.endpoints, n)
        print(f"one second's record, {args.endpoints} endpoints, {n:>7} requests: {size} bytes")


if __name__ == "__main__":
    main()
