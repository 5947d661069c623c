"""LoadRunner against a real Locust subprocess and a real local HTTP service."""
from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest

from support import wait_until

from chaosrunner.traffic import LoadRunner
from chaosrunner.timeline import EventKind, Timeline

pytestmark = pytest.mark.slow


def aggregated(tl: Timeline, since: float = 0.0) -> list:
    return [s for s in tl.load_stats if s.name == "Aggregated" and s.t > since]


def test_stats_stream_latency_rise_and_fall_and_csvs(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    died: list[str] = []
    spec = {"http": {"host": delay_server.url, "paths": ["/a", "/b"]}, "users": 4, "spawn_rate": 100, "rate": "80/s"}
    runner = LoadRunner(spec, tmp_path, tl, run_time=60, on_died=died.append)
    runner.preflight()
    runner.start()

    def seconds(since: float) -> int:
        return len([s for s in aggregated(tl, since) if s.requests])

    try:
        assert runner.alive()
        # The first complete second reaches the timeline ~1 s after start() (the < 2 s delivery
        # figure is load_bench's); a hang guard here, as this shared machine may stall a moment.
        wait_until(lambda: seconds(0.0) >= 1, 6)
        # phases last until enough whole seconds of each reached the timeline, not a fixed time
        wait_until(lambda: seconds(0.0) >= 4, 15)
        delay_server.set_delay(150)
        slow_from = tl.now()
        wait_until(lambda: seconds(slow_from + 1.2) >= 2, 15)
        delay_server.set_delay(0)
        fast_from = tl.now()
        wait_until(lambda: seconds(fast_from + 1.2) >= 2, 15)
    finally:
        runner.stop()
    assert not died and not runner.alive()
    # the first second holds the connection set-up: the steady baseline starts after it
    base = [s for s in aggregated(tl) if s.t < slow_from and s.requests][1:]
    slow = [s for s in aggregated(tl) if slow_from + 1.2 < s.t <= fast_from and s.requests]
    after = [s for s in aggregated(tl) if s.t > fast_from + 1.2 and s.requests]
    assert len(base) >= 2 and slow and after, (base, slow, after)
    # Every slow second carries the 150 ms delay (its median request >= 140 ms); outside it the
    # typical request of the typical second is judged (< 50 ms), as at 80 req/s a second's p99 is
    # its slowest request or two, which a scheduling hiccup of this shared machine can decide.
    assert min(s.p50 for s in slow) >= 140
    assert statistics.median(s.p50 for s in base) < 50
    assert statistics.median(s.p50 for s in after) < 50
    # A fixed rate: 80/s over 4 users. Unbounded users would send thousands a second, and while
    # slow, 4 users manage at most ~26/s (closed model); a stalled Locust may drop a second's
    # rate for a moment (constant_throughput does not catch up), hence the wide per-second band.
    assert 55 <= statistics.median(s.rps for s in base) <= 90
    assert all(20 <= s.rps <= 120 for s in base)
    assert max(s.rps for s in slow) <= 40
    # per-endpoint rows sit next to the aggregate
    names = {s.name for s in tl.load_stats}
    assert {"GET /a", "GET /b", "Aggregated"} <= names
    # Streamed while running (stats sent only at the end would lag by the whole run, >= 8 s);
    # the < 2 s delivery figure is measured by benchmarks/load_bench.py.
    assert max(runner.delivery_lags) < 4.0
    kinds = [e.kind for e in tl.events]
    assert kinds[0] is EventKind.LOAD_STARTED and kinds[-1] is EventKind.LOAD_STOPPED
    assert tl.events[-1].data["ok"] is True
    csvs = {p.name for p in runner.csv_files()}
    assert {"locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"} <= csvs
    assert "/a" in (tmp_path / "locust_stats.csv").read_text()


def test_failures_are_counted(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    spec = {"http": {"host": delay_server.url, "paths": ["/fail", "/ok"]}, "users": 2, "rate": "40/s"}
    runner = LoadRunner(spec, tmp_path, tl, run_time=30)
    runner.preflight()
    runner.start()
    try:
        wait_until(lambda: sum(s.requests for s in aggregated(tl)) > 40, 15)
    finally:
        runner.stop()
    rows = [s for s in tl.load_stats if s.name == "GET /fail" and s.requests]
    assert rows and all(s.failures == s.requests for s in rows)
    assert all(s.failures == 0 for s in tl.load_stats if s.name == "GET /ok")


def test_two_workers(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    spec = {"http": {"host": delay_server.url, "paths": ["/w"]}, "users": 4, "spawn_rate": 100, "rate": "60/s",
            "workers": 2}
    runner = LoadRunner(spec, tmp_path, tl, run_time=30)
    runner.preflight()
    runner.start()
    try:
        # One worker alone sends 30/s: a second of >= 45 holds both workers' requests.
        wait_until(lambda: len([s for s in aggregated(tl) if s.requests >= 45]) >= 2, 15)
    finally:
        runner.stop()
    full = [s for s in aggregated(tl) if s.requests >= 45]
    # both workers' histograms are merged into one row per second: the total is the fixed rate
    # (60/s), not twice it (a double-counted second would hold ~120)
    assert all(s.rps <= 75 for s in full)
    # streamed while running (the < 2 s figure is benchmarks/load_bench.py's); a hang guard here
    assert max(runner.delivery_lags) < 4.0
    # A second waits for both workers: a merger that emitted on the first record would drop the
    # other worker's record of every second. One record may miss its second's 1.2 s grace when a
    # worker is starved on this shared machine.
    assert runner.late_records <= 1


def test_locust_killed_mid_run_calls_on_died_promptly(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    died = threading.Event()
    reasons: list[str] = []

    def on_died(reason: str) -> None:
        reasons.append(reason)
        died.set()

    spec = {"http": {"host": delay_server.url, "paths": ["/"]}, "users": 2, "rate": "20/s"}
    runner = LoadRunner(spec, tmp_path, tl, run_time=60, on_died=on_died)
    runner.preflight()
    runner.start()
    try:
        time.sleep(1)
        killed_at = time.monotonic()
        assert runner._proc is not None
        os.kill(runner._proc.pid, signal.SIGKILL)
        # The reader thread checks the process every 0.2 s. The product's "within 2 s" is a
        # figure for a benchmark; here a guard that still separates it from never (run_time 60 s).
        assert died.wait(5.0), "on_died was not called within 5 s"
        assert time.monotonic() - killed_at < 5.0
    finally:
        runner.stop()
    assert "killed by SIGKILL" in reasons[0]
    stopped = tl.events_of(EventKind.LOAD_STOPPED)
    assert len(stopped) == 1 and stopped[0].data["ok"] is False and stopped[0].data["reason"] == "died"


def test_run_time_reached_is_not_a_death(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    died: list[str] = []
    spec = {"http": {"host": delay_server.url, "paths": ["/"]}, "users": 1, "rate": "10/s", "run_time": "2s"}
    runner = LoadRunner(spec, tmp_path, tl, run_time=99, on_died=died.append)
    runner.preflight()
    runner.start()
    wait_until(lambda: not runner.alive(), 20)
    # the reader thread classifies the exit a moment later: wait for its LOAD_STOPPED, not a fixed time
    wait_until(lambda: tl.events_of(EventKind.LOAD_STOPPED), 10)
    runner.stop()
    assert not died
    stopped = tl.events_of(EventKind.LOAD_STOPPED)
    assert len(stopped) == 1 and stopped[0].data["ok"] is True and stopped[0].data["reason"] == "run_time reached"


def test_user_locustfile_with_shape_stages(tmp_path: Path, delay_server) -> None:
    (tmp_path / "api.py").write_text(
        "from locust import FastHttpUser, constant_throughput, task\n\n"
        "class Api(FastHttpUser):\n"
        "    wait_time = constant_throughput(10)\n\n"
        "    @task\n"
        "    def home(self):\n"
        "        self.client.get('/home')\n"
    )
    tl = Timeline()
    spec = {"locustfile": "api.py", "host": delay_server.url,
            "shape": [{"duration": "2s", "users": 1, "spawn_rate": 50}, {"duration": "10s", "users": 3,
                                                                        "spawn_rate": 50}]}
    runner = LoadRunner(spec, tmp_path / "run", tl, base_dir=tmp_path, run_time=30)
    runner.preflight()
    runner.start()
    try:
        wait_until(lambda: any(s.requests >= 25 for s in aggregated(tl)), 20)
    finally:
        runner.stop()
    rates = [s.requests for s in aggregated(tl) if s.requests]
    assert rates[0] <= 12          # one user at 10/s first, then three
    assert max(rates) >= 25
