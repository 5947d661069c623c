"""kill -9 of the runner at random moments — before the first inject, mid-inject, mid-fault,
mid-revert, during recovery — then `chaosrunner recover`, in a loop. Every time, nothing may be
left: no toxic, no disabled proxy, no stopped process, no process the run started (Locust, its
workers, the CPU hog), no ledger entry.

Real parts: the embedded proxy (a real server) in front of a real web service, a real Locust (its
workers are checked in test_load_slo_e2e.py), the real resource driver's hog, the CLI run as
users run it. 50 iterations by default; ``CHAOSRUNNER_KILL_LOOP=N`` runs N. Kills are timed from
the run's first sign of life (see ``_sleep_into_the_run``), so they spread over its phases however
slowly the interpreter starts. A Locust started in the instant before its ledger entry is written
is not in the ledger: it stops itself once the runner's heartbeat is gone (about 2 s),
which is why the check waits up to 8 s for processes to go.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from support import ROOT, write

from chaosrunner import api

from chaosrunner.proxy.server import start_in_thread

pytestmark = pytest.mark.slow

ITERATIONS = int(os.environ.get("CHAOSRUNNER_KILL_LOOP", "50"))

EXPERIMENT = """\
name: kill-loop
targets: inv.yaml
load: {http: {host: "${web.url}", paths: [/health]}, users: 2, rate: 20/s}
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 500ms}
method:
  - action: {type: latency, target: web, delay: 50ms, duration: 1500ms, background: true}
  - action: {type: network, operation: partition, target: side, duration: 1500ms, background: true}
  - action: {type: resource, resource: cpu, consumption: 5%, target: hog, duration: 1500ms, background: true}
  - action: {type: process, operation: stop, target: web, duration: 700ms}
  - pause: 800ms
sampling: {interval: 100ms, stable_for: 300ms}
"""


def call(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def create(api: str, name: str, upstream: int) -> str:
    req = urllib.request.Request(api + "/proxies", method="POST", data=json.dumps(
        {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream}"}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.loads(resp.read())["listen"])


def run_started_processes(marker: str) -> list[psutil.Process]:
    """Processes a run started: Locust (its files live in the run folder) and the resource hog."""
    out = []
    for p in psutil.process_iter(["cmdline", "pid"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["pid"] != os.getpid() and marker in cmd and ("locust" in cmd or "pressure" in cmd):
            out.append(p)
    return out


def leftovers(api: str, web, marker: str, ledger: Path) -> list[str]:
    found = []
    for name, proxy in call(api + "/proxies").items():
        if not proxy["enabled"]:
            found.append(f"proxy {name} disabled")
        if proxy["toxics"]:
            found.append(f"proxy {name} has toxics {[t['name'] for t in proxy['toxics']]}")
    if web.state() == psutil.STATUS_STOPPED:
        found.append("web is stopped")
    found += [f"process {p.pid} {' '.join(p.cmdline())[:80]}" for p in run_started_processes(marker)
              if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    found += [f"ledger entry {p.name}" for p in ledger.glob("*.json")]
    return found


def test_kill_9_at_random_moments_then_recover_leaves_nothing(tmp_path, web):
    rng = random.Random(20261130)
    ledger = Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger"
    hog = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    phases: dict[str, int] = {}
    try:
        with start_in_thread(port=0) as server:
            listen = create(server.api_url, "web", web.port)
            create(server.api_url, "side", web.port)
            write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    url: http://{listen}
    toxiproxy: {{api: {server.api_url}, proxy: web}}
    process: {{pidfile: {web.pidfile}}}
  side: {{toxiproxy: {{api: {server.api_url}, proxy: side}}}}
  hog: {{process: {{pid: {hog.pid}}}}}
""")
            exp = write(tmp_path / "exp.yaml", EXPERIMENT)
            for i in range(ITERATIONS):
                reports = tmp_path / f"r{i}"
                run = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(exp), "--report-dir",
                                        str(reports)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                _sleep_into_the_run(rng, reports, ledger)
                phase = _phase(reports)
                run.kill()
                run.wait()
                phases[phase] = phases.get(phase, 0) + 1
                # recover in this process: the CLI's own recover is tested with kill -9 in test_engine.py
                failed = [(x.entry.fault_type, x.error) for x in api.recover() if not x.ok]
                assert not failed, (i, phase, failed)
                deadline = time.monotonic() + 8
                while (left := leftovers(server.api_url, web, str(tmp_path), ledger)) and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert not left, (i, phase, left)
    finally:
        hog.kill()
    print(f"{ITERATIONS} kills, by phase reached: {phases}")
    assert len(phases) >= 3            # the kills landed in several phases, not all before the run began


def _alive(reports: Path, ledger: Path) -> bool:
    """The run has begun: its folder has something in it, or it has written the ledger."""
    return (reports.exists() and any(reports.iterdir())) or any(ledger.glob("*.json"))


def _sleep_into_the_run(rng: random.Random, reports: Path, ledger: Path) -> None:
    """Wait until the moment to kill: one time in eight while the interpreter is still starting,
    otherwise 0-3.7 s after the run shows its first sign of life. Timed from the run's own start, not
    from Popen, so a loaded machine (a slower interpreter start) still spreads the kills over the
    run's phases instead of landing them all before it began."""
    if rng.random() < 1 / 8:
        time.sleep(rng.uniform(0.0, 0.8))
        return
    after = rng.uniform(0.0, 3.7)
    deadline = time.monotonic() + 60
    while not _alive(reports, ledger) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(after)


def _phase(reports: Path) -> str:
    """How far the run had got, from its state on disk (the ledger is the truth; this is for the log)."""
    ledger = Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger"
    entries = [json.loads(p.read_text()) for p in ledger.glob("*.json") if p.suffix == ".json"]
    faults = [e for e in entries if e.get("driver") != "helper"]
    if any(e["state"] == "injecting" for e in faults):
        return "mid-inject"
    if faults:
        return "faults in force"
    if entries:
        return "load running"
    return "before the load" if not reports.exists() or not any(reports.iterdir()) else "after the faults"
