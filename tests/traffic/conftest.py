"""Fixtures for load tests: a real HTTP service with a switchable delay, on a free loopback port."""
from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from support import free_port, wait_http

SERVER = Path(__file__).with_name("delay_server.py")


class DelayServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(SERVER), str(self.port)])
        wait_http(self.url + "/ready")

    def set_delay(self, ms: float) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_delay?ms={ms}", method="POST"), timeout=5).read()

    def set_gauge(self, value: float) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/_gauge?value={value}", method="POST"),
                               timeout=5).read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def delay_server():
    server = DelayServer()
    yield server
    server.stop()
