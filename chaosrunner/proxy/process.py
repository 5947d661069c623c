"""The fault proxy server in a child process (``python -m chaosrunner.proxy serve``).

    proc = start_subprocess(port=0)     # waits until the API listens; proc.api_url, proc.pid
    ...
    proc.stop()                         # SIGTERM, then SIGKILL after a grace period

The child prints ``chaosrunner proxy: API listening on http://HOST:PORT`` once it listens; that line
is how a free port (``port=0``) is learnt. A start failure (port in use: exit code 2) raises
``ListenError`` with the child's message.
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaosrunner.proxy.cli import READY_PREFIX
from chaosrunner.proxy.errors import ListenError


class ProxyProcess:
    """A running ``chaosrunner proxy serve`` child process."""

    def __init__(self, popen: subprocess.Popen[bytes], api_url: str) -> None:
        self.popen = popen
        self.api_url = api_url
        self.pid = popen.pid
        hostport = api_url.split("://", 1)[1]
        self.host, _, port = hostport.rpartition(":")
        self.port = int(port)

    def stop(self, timeout: float = 10.0) -> int:
        """Terminate the child (its proxies close their connections) and return its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_subprocess(host: str = "127.0.0.1", port: int = 0, *, metrics: bool = False,
                     config: str | Path | None = None, timeout: float = 15.0,
                     log_file: str | Path | None = None) -> ProxyProcess:
    """Start the server in a child process and return once its API listens.

    The child's log (stderr) goes to ``log_file`` when given, else to a temporary file that is only
    read when the start fails.
    """
    cmd = [sys.executable, "-m", "chaosrunner.proxy", "serve", "--host", host, "--port", str(port)]
    if metrics:
        cmd.append("--metrics")
    if config:
        cmd += ["--config", str(config)]
    log = open(log_file, "ab") if log_file else tempfile.TemporaryFile()  # noqa: SIM115
    with log:
        popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        line = _first_line(popen, timeout)
        if line.startswith(READY_PREFIX):
            return ProxyProcess(popen, line[len(READY_PREFIX):].strip())
        if popen.poll() is None:
            popen.kill()
        popen.wait(5)
        log.seek(0)
        lines = log.read().decode(errors="replace").strip().splitlines()
    message = next((x for x in reversed(lines) if x.startswith("error:")), lines[-1] if lines else "")
    raise ListenError(message.removeprefix("error: ") or f"the proxy server did not start (exit {popen.returncode})")


def _first_line(popen: subprocess.Popen[bytes], timeout: float) -> str:
    assert popen.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(popen.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while b"\n" not in data and time.monotonic() < deadline:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(popen.stdout.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    finally:
        selector.close()
    return data.decode(errors="replace").split("\n", 1)[0]
