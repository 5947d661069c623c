"""Fixtures shared by the whole suite: free loopback ports, an isolated ledger, a real local service."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = Path(__file__).resolve().parent / "services"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    """Every test gets its own fault ledger, so tests never see each other's faults."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("CHAOSRUNNER_STATE_DIR", str(state))
    return state


class Web:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.pidfile = tmp / "web.pid"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(SERVICES / "web.py"), str(self.port), str(self.pidfile)])
        wait_http(self.url + "/health")

    def state(self) -> str:
        import psutil

        return psutil.Process(self.proc.pid).status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def web(tmp_path):
    """A real HTTP service on a free loopback port, with a pid file (a process target)."""
    w = Web(tmp_path)
    yield w
    w.stop()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaosrunner.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)
