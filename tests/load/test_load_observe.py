"""load.master: observing an existing Locust through its web UI (chaosrunner does not drive it)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosrunner.errors import LoadError
from chaosrunner.load import LoadRunner
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
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and sum(s.requests for s in tl.load_stats if s.name == "Aggregated") < 20:
            time.sleep(0.2)
        assert sum(s.requests for s in tl.load_stats if s.name == "Aggregated") >= 20
        assert any(s.name == "GET /home" for s in tl.load_stats)
        locust.terminate()
        locust.wait(10)
        deadline = time.monotonic() + 6
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
