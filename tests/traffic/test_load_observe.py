"""load.master: observing an existing Locust through its web UI (chaosrunner does not drive it)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosrunner.errors import LoadError
from chaosrunner.traffic import LoadRunner
from chaosrunner.demo.inventory import free_ports
from chaosrunner.timeline import EventKind, Timeline

from conftest import free_port, wait_http

pytestmark = pytest.mark.slow


def test_observes_an_existing_locust_and_notices_it_going_away(tmp_path: Path, delay_server) -> None:
    (tmp_path / "api.py").write_text(
        "from locust import FastHttpUser, constant_throughput, task\n\n"
        "class Api(FastHttpUser):\n"
        "    wait_time = constant_throughput(10)\n\n"
        "    @task\n"
        "    def home(self):\n"
        "        self.client.get('/home')\n")
    port = free_port()
    locust = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(tmp_path / "api.py"), "--host",
                               delay_server.url, "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart",
                               "-u", "2", "-r", "10"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    died: list[str] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/stats/requests", 20)
        tl = Timeline()
        runner = LoadRunner({"master": f"127.0.0.1:{port}"}, tmp_path / "run", tl, on_died=died.append)
        runner.preflight()
        runner.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(s.requests for s in tl.load_stats if s.name == "Aggregated") < 20:
            time.sleep(0.2)
        assert sum(s.requests for s in tl.load_stats if s.name == "Aggregated") >= 20
        assert any(s.name == "GET /home" for s in tl.load_stats)
        locust.terminate()
        locust.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not died:
            time.sleep(0.1)
        assert died and "stopped answering" in died[0]
        runner.stop()
        assert tl.events_of(EventKind.LOAD_STOPPED)[0].data["ok"] is False
    finally:
        if locust.poll() is None:
            locust.kill()


def test_no_locust_at_the_master_address(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no Locust web UI answers"):
        LoadRunner({"master": f"127.0.0.1:{free_port()}"}, tmp_path, Timeline()).preflight()


def test_a_real_master_gives_no_p99_so_the_p99_slo_is_unknown_and_its_csvs_are_kept(tmp_path: Path,
                                                                                     delay_server) -> None:
    from chaosrunner.analyse.verdict import Status
    from chaosrunner.analyse.slo import slo_verdicts

    (tmp_path / "api.py").write_text(
        "from locust import FastHttpUser, constant_throughput, task\n\n"
        "class Api(FastHttpUser):\n"
        "    wait_time = constant_throughput(20)\n\n"
        "    @task\n"
        "    def home(self):\n"
        "        self.client.get('/home')\n")
    web, bus = free_ports(2)                                 # distinct: held together
    # a real distributed Locust: a master (web UI) and one forked worker reporting to it
    locust = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(tmp_path / "api.py"), "--host",
                               delay_server.url, "--web-host", "127.0.0.1", "--web-port", str(web), "--autostart",
                               "-u", "2", "-r", "10", "--processes", "1", "--master-bind-host", "127.0.0.1",
                               "--master-bind-port", str(bus), "--master-host", "127.0.0.1", "--master-port",
                               str(bus)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{web}/stats/requests", 20)
        tl = Timeline()
        runner = LoadRunner({"master": f"127.0.0.1:{web}"}, tmp_path / "run", tl)
        runner.preflight()
        started = time.monotonic()
        runner.start()
        while time.monotonic() - started < 10 and not tl.load_stats:
            time.sleep(0.05)
        # Polled once a second: the first poll answers ~1 s after start() (each poll may take up
        # to its 2 s HTTP timeout on a busy machine); a poller that never ran would give nothing.
        assert tl.load_stats and time.monotonic() - started <= 4.0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(s.requests for s in tl.load_stats if s.name == "Aggregated") < 40:
            time.sleep(0.2)
        runner.stop()
    finally:
        locust.terminate()
        locust.wait(10)
    rows = [s for s in tl.load_stats if s.name == "Aggregated" and s.requests]
    assert sum(s.requests for s in rows) >= 40
    assert all(s.p99 is None for s in rows) and any(s.p50 is not None for s in rows)
    [verdict] = [v for v in slo_verdicts(tl, {"p99": "1s"}) if v.name == "slo p99 (baseline)"]
    assert verdict.status is Status.UNKNOWN and "does not report p99" in verdict.detail
    stats_csv = (tmp_path / "run" / "locust_stats.csv").read_text()
    assert "/home" in stats_csv and "Aggregated" in stats_csv
    assert (tmp_path / "run" / "locust_failures.csv").read_text().startswith("Method,Name")
