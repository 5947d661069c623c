"""Fixtures for the Chaos Toolkit tests: a small loopback HTTP service whose state the experiments
change, the embedded fault proxy in front of it, and both runners (`chaos run`, `chaosrunner run`)."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "ctk"
CHAOS = ROOT / ".venv" / "bin" / "chaos"


class Service(ThreadingHTTPServer):
    """GET /health (200 'ok' when up, 503 when down, 'ok' after 0.5 s when slow), GET /status (JSON),
    POST /state (body: up | down | slow), POST /record (what an action saw), GET /records."""

    daemon_threads = True

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = "up"
        self.records: list[dict[str, Any]] = []
        scheme = "http"
        if tls is not None:                          # (certificate, key): HTTPS, self-signed
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    server: Service

    def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state = self.server.state
        if self.path.startswith("/health"):
            if state == "slow":
                time.sleep(0.5)
            self._send(503 if state == "down" else 200, b"down" if state == "down" else b"ok")
        elif self.path.startswith("/status"):
            self._send(200, json.dumps({"state": state, "replicas": 3}).encode(), "application/json")
        elif self.path.startswith("/records"):
            self._send(200, json.dumps(self.server.records).encode(), "application/json")
        else:
            self._send(404, b"no")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/state"):
            self.server.state = body.decode().strip()
            self._send(200, self.server.state.encode())
        elif self.path.startswith("/record"):
            self.server.records.append(json.loads(body))
            self._send(200, b"recorded")
        else:
            self._send(404, b"no")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service():
    s = Service()
    yield s
    s.shutdown()
    s.server_close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), as a service on a developer's machine has."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass
class Env:
    """The environment both runners get: the fixtures importable, the service's URL, a home of
    their own (no user settings), the control log."""

    tmp: Path
    service: Service
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def control_log(self) -> Path:
        return self.tmp / "controls.log"

    def vars(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTKFIX_")}
        env.update({"PYTHONPATH": str(FIXTURES), "HOME": str(self.tmp / "home"), "CTKFIX_URL": self.service.url,
                    "CTKFIX_CONTROL_LOG": str(self.control_log), **self.extra})
        return env

    def chaos(self, fixture: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict]:
        journal = self.tmp / f"chaos-{fixture.stem}.json"
        proc = subprocess.run([str(CHAOS), "run", "--journal-path", str(journal), *args, str(fixture)],
                              capture_output=True, text=True, timeout=timeout, env=self.vars(), cwd=self.tmp)
        assert journal.exists(), proc.stdout + proc.stderr
        return proc, json.loads(journal.read_text())

    def chaosrunner(self, fixture: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict]:
        reports = self.tmp / f"reports-{fixture.stem}"
        proc = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "run", str(fixture), "--report-dir",
                               str(reports), "--non-interactive", "--json", *args], capture_output=True, text=True,
                              timeout=timeout, env=self.vars(), cwd=self.tmp)
        runs = sorted(p for p in reports.iterdir() if p.is_dir()) if reports.exists() else []
        assert len(runs) == 1, proc.stdout + proc.stderr
        return proc, json.loads((runs[0] / "journal.json").read_text())


@pytest.fixture
def env(tmp_path, service):
    (tmp_path / "home").mkdir()
    return Env(tmp_path, service)


def outcome(journal: dict) -> dict:
    """What must be equal between `chaos run` and `chaosrunner run`: the verdict, the hypothesis checks,
    each activity's outcome and the rollbacks executed."""
    states = journal.get("steady_states") or {}
    return {
        "status": journal["status"],
        "deviated": journal["deviated"],
        "before": (states.get("before") or {}).get("steady_state_met"),
        "after": (states.get("after") or {}).get("steady_state_met"),
        "run": [(r["activity"]["name"], r["status"]) for r in journal.get("run", [])],
        "rollbacks": [(r["activity"]["name"], r["status"]) for r in journal.get("rollbacks", [])],
    }
