"""Helpers shared by the whole suite (a plain module: conftest.py files are not importable by name)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


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


def proxy_in_front(api_url: str, name: str, upstream_port: int) -> str:
    """Create a proxy ``name`` on a free loopback port in front of ``127.0.0.1:upstream_port``
    through a Toxiproxy API; return the address it listens on (``host:port``)."""
    import json

    req = urllib.request.Request(api_url + "/proxies", method="POST",
                                 data=json.dumps({"name": name, "listen": "127.0.0.1:0",
                                                  "upstream": f"127.0.0.1:{upstream_port}"}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.loads(resp.read())["listen"])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaosrunner.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)
