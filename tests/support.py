"""Helpers shared by the whole suite (a plain module: conftest.py files are not importable by name)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil


ROOT = Path(__file__).resolve().parent.parent
SERVICES = Path(__file__).resolve().parent / "services"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid_or_proc: int | psutil.Process) -> bool:
    """Running: not gone and not a zombie (a killed child of this test process stays a zombie until
    reaped); a process that goes away while it is looked at is gone."""
    try:
        proc = pid_or_proc if isinstance(pid_or_proc, psutil.Process) else psutil.Process(pid_or_proc)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class PortTaken(Exception):
    """A server given a free port found that something else bound it first."""


def on_a_free_port(start: Callable[[int], T], attempts: int = 3) -> T:
    """``start(port)`` on a free loopback port. A port found free here is bound by the server a
    moment later, and another process may take it in between: when ``start`` raises PortTaken,
    the next free port is tried."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers with a success; a generous timeout costs nothing when it comes up
    at once. With ``proc``, give up as soon as that server process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:  # refused, reset, timed out, or an error status such as 503 while starting
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout:g}s")


def wait_until(cond: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition",
               ignore: tuple[type[BaseException], ...] = ()) -> float:
    """Seconds it took until cond() was true; AssertionError after timeout.

    An exception of a type in ``ignore`` raised by cond() counts as "not yet" (a server still
    starting, a reply not yet complete); the last one is named in the timeout message.
    """
    started = time.monotonic()
    while True:
        try:
            value = cond()
        except ignore as exc:
            value = exc
        else:
            if value:
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(interval)


class Web:
    def __init__(self, tmp: Path):
        self.pidfile = tmp / "web.pid"
        on_a_free_port(self._start)

    def _start(self, port: int) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, str(SERVICES / "web.py"), str(port), str(self.pidfile)])
        try:
            wait_http(self.url + "/health", proc=self.proc)
        except RuntimeError as exc:
            exited = self.proc.poll() is not None          # at once: it could not bind its port
            self.stop()
            if exited:
                raise PortTaken(str(exc)) from exc
            raise

    def state(self) -> str:
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


@contextlib.contextmanager
def prometheus_scraping(tmp: Path) -> Iterator[tuple[str, str]]:
    """A real Prometheus (Debian's) scraping a small app with a settable gauge every second:
    yields (app URL, Prometheus URL); ``set_gauge(app_url, v)`` sets ``demo_queue_depth``."""
    import shutil

    import pytest

    from chaosrunner.demo.inventory import free_ports

    if not shutil.which("prometheus"):
        pytest.skip("Debian's prometheus binary is not installed")
    app_port, prom_port = free_ports(2)                      # distinct: held together
    app = subprocess.Popen([sys.executable, str(ROOT / "tests" / "traffic" / "delay_server.py"), str(app_port)])
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "wb"))
    app_url, prom_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{prom_port}"
    try:
        wait_http(app_url + "/metrics", proc=app)
        wait_http(prom_url + "/-/ready", proc=prom)
        yield app_url, prom_url
    finally:
        stop_processes(prom, app)


def stop_processes(*procs: subprocess.Popen) -> None:
    """SIGTERM each, then SIGKILL what is still running 10 s later."""
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def set_gauge(app_url: str, value: float) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{app_url}/_gauge?value={value}", method="POST"), timeout=5).read()


def run_dirs(reports: Path) -> list[Path]:
    """The run folders in a reports folder (beside them: history.sqlite, the index)."""
    return sorted(p for p in reports.iterdir() if p.is_dir())
