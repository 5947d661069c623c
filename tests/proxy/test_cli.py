"""The command lines: ``python -m chaosrunner.proxy serve``, ``toxiproxy-server`` Go-style flags, a child process."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from chaosrunner.proxy import ListenError, start_subprocess
from support import PortTaken, on_a_free_port

from .helpers import connect, round_trip

BIN = Path(sys.executable).parent


def test_subprocess_serves_the_config_file_and_stops_on_sigterm(tmp_path, upstream):
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "cfg", "listen": "127.0.0.1:0", "upstream": upstream.address}]))
    proc = start_subprocess(port=0, config=config, metrics=True)
    try:
        assert proc.api_url.startswith("http://127.0.0.1:")
        proxy = requests.get(f"{proc.api_url}/proxies/cfg", timeout=5).json()
        host, port = proxy["listen"].rsplit(":", 1)
        with connect((host, int(port))) as sock:
            round_trip(sock)
        assert "toxiproxy_proxy_connections_total" in requests.get(f"{proc.api_url}/metrics", timeout=5).text
    finally:
        code = proc.stop()
    assert code == 0


def test_port_in_use_prints_the_real_error_and_exits_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "chaosrunner.proxy", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert f"error: listen tcp 127.0.0.1:{port}: bind: address already in use" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        with pytest.raises(ListenError, match="address already in use"):
            start_subprocess(port=port)


def test_toxiproxy_server_accepts_go_style_flags(tmp_path, upstream):
    config = tmp_path / "c.json"
    config.write_text(json.dumps([{"name": "go", "listen": "127.0.0.1:0", "upstream": upstream.address}]))
    version = subprocess.run([str(BIN / "toxiproxy-server"), "-version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("toxiproxy-server version 2.")
    def start(port: int) -> tuple[int, subprocess.Popen[bytes], str]:
        proc = subprocess.Popen([str(BIN / "toxiproxy-server"), "-host", "127.0.0.1", "-port", str(port),
                                 f"-config={config}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready = proc.stdout.readline().decode().strip()
        if not ready and proc.wait(10) == 2:               # exit 2: it could not bind that port
            proc.stdout.close()
            raise PortTaken(f"port {port}")
        return port, proc, ready

    port, proc, ready = on_a_free_port(start)
    try:
        assert ready.endswith(f"http://127.0.0.1:{port}"), ready
        assert list(requests.get(f"http://127.0.0.1:{port}/proxies", timeout=5).json()) == ["go"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        proc.stdout.close()


def test_main_cli_mounts_proxy_serve():
    done = subprocess.run([str(BIN / "chaosrunner"), "proxy", "serve", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--metrics" in done.stdout and "--config" in done.stdout
