"""Secrets never leave a run: a real run through the command line, killed with ``kill -9`` mid-fault once
and run to the end once, then every file it wrote and everything it printed is searched for each secret
and for every 8-character piece of it.

The run has every path a secret used to leak through: a probe whose URL holds one (its derived name is
printed and recorded) and whose error body echoes the request (cut to 200 characters), a toxiproxy
handle whose API URL carries a password, a process handle whose restart command holds one (both went
into the fault ledger), and real Locust load whose host and paths hold them (its CSVs, its log and the
generated locustfile).
"""
from __future__ import annotations

import json
import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from chaosrunner.execute import ledger as ledger_mod
from chaosrunner.proxy.server import start_in_thread
from support import ROOT, proxy_in_front, run_cli, wait_until, write

pytestmark = pytest.mark.slow


def secret(n: int = 24) -> str:
    return "".join(random.choices(string.ascii_letters, k=n))


SECRETS = {"CR_TOKEN": secret(), "CR_PROXY_PW": secret(), "CR_RESTART_KEY": secret()}
FILE_SECRET = secret()


def pieces(value: str, n: int = 8) -> set[str]:
    return {value[i:i + n] for i in range(len(value) - n + 1)}


def leaks(text: str) -> list[str]:
    """Each secret, or 8-character piece of one, found in ``text``."""
    found = []
    for value in [*SECRETS.values(), FILE_SECRET]:
        found += [p for p in pieces(value) if p in text]
    return found


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def assert_clean(what: str, text: str) -> None:
    found = leaks(text)
    assert not found, f"{what} holds a secret: {found[:3]} in …{text[max(0, text.find(found[0]) - 80):][:200]}"


def assert_files_clean(*roots: Path) -> list[Path]:
    files = files_under(*roots)
    for path in files:
        assert_clean(str(path), path.read_bytes().decode("utf-8", errors="replace"))
    return files


class Echo:
    """A service that answers 200, except while ``failing()``: then 503 with a body that echoes the request
    (request line and headers). For the probe (it sends X-Key), the echo comes after padding that moves the
    secret in the URL, sample after sample, across the 200th character of the body and of the error."""

    def __init__(self, failing):
        echo = self
        self.probed = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if failing():
                    pad = ""
                    if "X-Key" in self.headers:
                        echo.probed += 1
                        pad = "." * (140 + 10 * (echo.probed % 6))
                    body = f"{pad}{self.requestline}\n{self.headers}".encode()
                    self.send_response(503)
                else:
                    body = b"ok"
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def system(tmp_path, web, request):
    """The web service, the echo service (failing while the web service is stopped), the embedded proxy in
    front of the web service, and the experiment's files."""
    def web_stopped() -> bool:
        try:
            return psutil.Process(web.proc.pid).status() == psutil.STATUS_STOPPED
        except psutil.NoSuchProcess:
            return False

    echo = Echo(web_stopped)
    with start_in_thread(port=0) as proxy:
        listen = proxy_in_front(proxy.api_url, "web", web.port)
        api_port = proxy.api_url.rsplit(":", 1)[1]
        write(tmp_path / "key.txt", FILE_SECRET + "\n")
        write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    url: {web.url}
    process:
      pidfile: {web.pidfile}
      restart: "{sys.executable} -c 'print(1)' --key=${{env:CR_RESTART_KEY}}"
  front:
    url: http://{listen}
    toxiproxy: {{api: "http://chaos:${{env:CR_PROXY_PW}}@127.0.0.1:{api_port}", proxy: web}}
""")
        write(tmp_path / "exp.yaml", f"""\
name: secrets-stay-secret
targets: inv.yaml
steady_state:
  - probe:
      type: http
      url: "http://127.0.0.1:{echo.port}/echo/${{env:CR_TOKEN}}"
      headers: {{X-Key: "${{file:key.txt}}"}}
      timeout: 1s
method:
  - action: {{type: latency, target: front, delay: 50ms, duration: 4s, background: true}}
  - action: {{type: process, operation: stop, target: web, duration: 3s}}
load:
  {LOAD[request.param].format(port=echo.port)}
  users: 2
  spawn_rate: 10
sampling: {{interval: 250ms, stable_for: 1s}}
""")
        write(tmp_path / "api.py", LOCUSTFILE)
        yield tmp_path, proxy, web, web_stopped
    echo.close()


LOAD = {
    # the built-in profile: its host and paths hold secrets (the generated locustfile must not)
    "profile": ('http: {{host: "http://user:${{env:CR_PROXY_PW}}@127.0.0.1:{port}", '
                'paths: ["/echo/${{env:CR_TOKEN}}"]}}'),
    # a locustfile of the user's, which reads the token itself: Locust names each request by its URL
    "locustfile": 'locustfile: api.py\n  host: "http://user:${{env:CR_PROXY_PW}}@127.0.0.1:{port}"',
}

LOCUSTFILE = """\
import os

from locust import HttpUser, constant, task


class Api(HttpUser):
    wait_time = constant(0.05)

    @task
    def echo(self):
        self.client.get("/echo/" + os.environ["CR_TOKEN"])
"""


def env() -> dict[str, str]:
    return dict(SECRETS)


def faults(with_handle: bool = False) -> set[str]:
    """The types of the faults in the ledger (not the processes a run started, which it also holds)."""
    return {e.fault_type for e in ledger_mod.read_entries()
            if e.driver in ("toxiproxy", "process") and (e.handle or not with_handle)}


def toxics(proxy) -> list:
    import urllib.request

    with urllib.request.urlopen(proxy.api_url + "/proxies/web", timeout=5) as resp:
        return json.loads(resp.read())["toxics"]


@pytest.mark.parametrize("system", ["locustfile"], indirect=True)
def test_a_run_killed_mid_fault_leaves_no_secret_in_the_ledger_and_recover_resolves_them(system, isolated_state):
    folder, proxy, web, web_stopped = system
    reports = folder / "killed"
    out, err = folder / "killed.out", folder / "killed.err"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(folder / "exp.yaml"),
                                 "--report-dir", str(reports)], stdout=o, stderr=e, cwd=ROOT,
                                env={**os.environ, **env()})
    try:
        # both faults in force, each written to the ledger with its handle
        wait_until(lambda: web_stopped() and {"latency", "process"} <= faults(with_handle=True),
                   timeout=60, what="both faults injected")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    entries = ledger_mod.read_entries()
    assert {"latency", "process"} <= faults() and toxics(proxy) and web_stopped()
    ledger_text = "\n".join(e.path.read_text() for e in entries)
    assert_clean("the ledger", ledger_text)
    # the references are what is written, and they name what recover needs
    assert "${env:CR_PROXY_PW}" in ledger_text and "${env:CR_RESTART_KEY}" in ledger_text

    # Locust stops by itself once the runner is gone; what it wrote was redacted as it was written
    time.sleep(3.0)
    files = assert_files_clean(reports, isolated_state)
    [stats] = [p for p in files if p.name == "locust_stats.csv"]
    assert "/echo/***" in stats.read_text()         # the requests, named by their URL, were there
    assert_clean("what the killed run printed", out.read_text() + err.read_text())

    # a secret the environment no longer gives: named, and its entry stays; the other is reverted
    without = {k: v for k, v in {**os.environ, **env()}.items() if k != "CR_PROXY_PW"}
    r = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "recover"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, env=without)
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "environment variable CR_PROXY_PW is not set" in r.stdout and "the entry stays" in r.stdout
    assert not web_stopped()                                   # the process fault was reverted
    assert faults() == {"latency"} and toxics(proxy)
    assert_clean("recover's output", r.stdout + r.stderr)

    r = run_cli("recover", env=env())
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert ledger_mod.read_entries() == [] and toxics(proxy) == []
    assert_clean("recover's output", r.stdout + r.stderr)
    assert_files_clean(isolated_state)


@pytest.mark.parametrize("system", ["profile", "locustfile"], indirect=True)
def test_a_whole_run_writes_and_prints_no_secret(system, isolated_state, request):
    folder, proxy, web, web_stopped = system
    reports = folder / "reports"
    printed = []
    for args in (("validate", str(folder / "exp.yaml")), ("plan", str(folder / "exp.yaml")),
                 ("plan", "--json", str(folder / "exp.yaml"))):
        r = run_cli(*args, env=env())
        assert r.returncode == 0, (r.stdout, r.stderr)
        printed.append(r.stdout + r.stderr)
    r = run_cli("run", str(folder / "exp.yaml"), "--report-dir", str(reports), "--junit", str(reports / "junit.xml"),
                env=env(), timeout=180)
    assert r.returncode in (0, 1), (r.returncode, r.stdout, r.stderr)
    printed.append(r.stdout + r.stderr)
    for text in printed:
        assert_clean("what chaosrunner printed", text)
    files = assert_files_clean(reports, isolated_state)
    names = {p.name for p in files}
    assert {"run.json", "report.html", "junit.xml", "summary.md", "locust.log", "locust_stats.csv"} <= names

    [run_json] = reports.glob("*/run.json")
    record = json.loads(run_json.read_text())
    # what the run went through: the probe's URL (its name) and its echoed error, redacted before the cut
    [probe] = record["probes"]
    assert probe == f"http http://127.0.0.1:{probe.split(':')[2].split('/')[0]}/echo/***"
    errors = [s["error"] for s in record["timeline"]["samples"] if not s["ok"] and s["error"].startswith("HTTP 503")]
    # the echoed bodies, cut at 200 characters: where the secret began, or where it had been
    assert len(errors) >= 6 and all(len(e) <= 200 for e in errors)
    assert any("GET /echo/*** HTTP/1.1" in e for e in errors)
    stats = (run_json.parent / "locust_stats.csv").read_text()
    if request.node.callspec.params["system"] == "profile":
        # the generated locustfile holds references, and names each request by its path as written
        generated = (run_json.parent / "locustfile_http.py").read_text()
        assert "${env:CR_PROXY_PW}" in generated and "${env:CR_TOKEN}" in generated
        assert "/echo/${env:CR_TOKEN}" in stats
    else:
        # Locust names the user's requests by their URL, and its end-of-run summary lists them
        assert "/echo/***" in stats and "/echo/***" in (run_json.parent / "locust.log").read_text()
    assert not web_stopped() and toxics(proxy) == [] and ledger_mod.read_entries() == []


def test_an_error_that_names_a_secret_is_redacted_wherever_it_goes(tmp_path, web, isolated_state):
    """A fault that cannot be injected: the driver's error names the API URL, password included. It is
    an error event (the live view prints it), the abort reason (the result table, ``--json``) and part of
    run.json, the report, junit.xml and summary.md."""
    with start_in_thread(port=0) as proxy:
        api_port = proxy.api_url.rsplit(":", 1)[1]
        write(tmp_path / "inv.yaml", f"""\
targets:
  front:
    url: {web.url}
    toxiproxy: {{api: "http://chaos:${{env:CR_PROXY_PW}}@127.0.0.1:{api_port}", proxy: not-there}}
""")
        exp = write(tmp_path / "exp.yaml", """\
name: no-such-proxy
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${front.url}/health", timeout: 1s}
method:
  - action: {type: latency, target: front, delay: 50ms, duration: 1s}
sampling: {interval: 100ms, stable_for: 300ms}
""")
        shown = run_cli("run", str(exp), "--report-dir", str(tmp_path / "reports"), env=env())
        as_json = run_cli("run", str(exp), "--report-dir", str(tmp_path / "reports"), "--json", env=env())
    for r in (shown, as_json):
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        assert_clean("what chaosrunner printed", r.stdout + r.stderr)
    assert "has no proxy named 'not-there'" in shown.stderr and "http://chaos:***@127.0.0.1" in shown.stderr
    [summary] = json.loads(as_json.stdout)
    assert "http://chaos:***@127.0.0.1" in summary["abort_reason"]
    files = assert_files_clean(tmp_path / "reports", isolated_state)
    assert len([p for p in files if p.name == "run.json"]) == 2
