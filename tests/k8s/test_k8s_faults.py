"""Every Kubernetes fault in a real ``chaosrunner run``, against the loopback fake Kubernetes API.

No cluster runs here: ``k8s.fakeapi.FakeCluster`` serves the subset of the Kubernetes REST API the
driver calls, on 127.0.0.1, and the runner reaches it with the real ``kubernetes`` client through
a kubeconfig ($KUBECONFIG). Latency and error faults go through chaosrunner's own
Toxiproxy-compatible proxy (a real one, on loopback) named in the target's kubernetes handle.

For each fault: a run shows the change in the cluster while the fault lasts and none after it;
a ``kill -9`` of the runner mid-fault leaves the change behind, and ``chaosrunner recover``
removes it (reading the ledger with the handle's kubeconfig and context).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaosrunner.proxy.server import start_in_thread
from k8s.conftest import NS
from support import ROOT, run_cli, wait_until, write

pytestmark = pytest.mark.slow

INVENTORY = f"""\
environment: staging
targets:
  api: {{kubernetes: {{namespace: {NS}, selector: deployment/api-server}}}}
  postgres-primary: {{kubernetes: {{namespace: {NS}, selector: "app=postgres,role=primary"}}}}
  zone-a: {{kubernetes: {{namespace: {NS}, zone: us-west-2a}}}}
  database:
    kubernetes: {{namespace: {NS}, selector: app=postgres, toxiproxy: {{api: "{{api}}", proxy: postgres}}}}
"""


def pods(c, labels: dict[str, str]) -> list[dict]:
    return [p for p in c.list("Pod", NS) if all(p["metadata"].get("labels", {}).get(k) == v
                                                   for k, v in labels.items())]


def names(items: list[dict]) -> set[str]:
    return {i["metadata"]["name"] for i in items}


API = {"app": "api-server"}


@dataclass
class Case:
    action: str
    target: str
    during: Callable[[Any, dict], bool]          # (cluster, what was there before) -> the change is visible
    after: Callable[[Any, dict], bool]           # -> nothing of it is left (pod-kill: as many pods Ready again)


def _policy(c) -> dict | None:
    found = c.list("NetworkPolicy", NS)
    return found[0] if len(found) == 1 else None


def _api_ready(c) -> bool:
    return len(c.ready_pods(NS, API)) == 3 and len(pods(c, API)) == 3


def _toxics(c) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(c.proxy_api + "/proxies/postgres/toxics", timeout=5) as r:
        return [t["name"] for t in json.loads(r.read())]


CASES = {
    "pod-kill": Case(
        "type: pod-kill, mode: fixed, count: 2, grace_period: 5s", "api",
        lambda c, base: len(base["api"] - names(pods(c, API))) == 2
        and [d["grace"] for d in c.deletions] == [5, 5],
        lambda c, base: _api_ready(c) and len(base["api"] & names(pods(c, API))) == 1),
    "partition": Case(
        "type: network, operation: partition", "postgres-primary",
        lambda c, base: (p := _policy(c)) is not None
        and p["spec"]["podSelector"] == {"matchLabels": {"app": "postgres", "role": "primary"}}
        and p["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in p["spec"],
        lambda c, base: c.list("NetworkPolicy", NS) == []),
    "zone-partition": Case(
        "type: network, operation: partition", "zone-a",
        lambda c, base: (p := _policy(c)) is not None
        and names([x for x in c.list("Pod", NS) if "chaosrunner.io/fault" in x["metadata"].get("labels", {})])
        == base["zone-a"] and p["spec"]["ingress"] == [{"from": [{"podSelector": p["spec"]["podSelector"]}]}],
        lambda c, base: c.list("NetworkPolicy", NS) == []
        and not [x for x in c.list("Pod", NS) if "chaosrunner.io/fault" in x["metadata"].get("labels", {})]),
    "scale": Case(
        "type: scale, replicas: 1", "api",
        lambda c, base: c.get("Deployment", NS, "api-server")["spec"]["replicas"] == 1 and len(pods(c, API)) == 1,
        lambda c, base: c.get("Deployment", NS, "api-server")["spec"]["replicas"] == 3
        and "chaosrunner.io/replicas-before" not in c.get("Deployment", NS, "api-server")["metadata"]
        .get("annotations", {})),
    "node-drain": Case(
        "type: node-drain, count: 1", "api",
        lambda c, base: [n["metadata"]["name"] for n in c.list("Node") if n["spec"].get("unschedulable")] == ["node-1"]
        and not [p for p in pods(c, API) if p["spec"].get("nodeName") == "node-1"]
        and any(verb == "evict" for _, verb, *_ in c.log),
        lambda c, base: not [n for n in c.list("Node") if n["spec"].get("unschedulable")
                             or "chaosrunner.io/cordoned-by" in n["metadata"].get("annotations", {})]),
    "rollout-restart": Case(
        "type: rollout-restart", "api",
        lambda c, base: "kubectl.kubernetes.io/restartedAt" in c.get("Deployment", NS, "api-server")["spec"][
            "template"]["metadata"].get("annotations", {}) and not base["api"] & names(pods(c, API)),
        lambda c, base: _api_ready(c) and not base["api"] & names(pods(c, API))),
    "memory": Case(
        "type: resource, resource: memory, consumption: 80%", "api",
        lambda c, base: len(s := [p for p in c.list("Pod", NS) if p["metadata"]["name"].startswith("chaosrunner-")])
        == 3 and {p["spec"]["nodeName"] for p in s} == {"node-1", "node-2", "node-3"}
        and all(p["spec"]["containers"][0]["resources"]["limits"]["memory"] == "8Gi"
                and str(int(8 * 2**30 * 0.8)) in p["spec"]["containers"][0]["args"] for p in s),
        lambda c, base: not [p for p in c.list("Pod", NS) if p["metadata"]["name"].startswith("chaosrunner-")]),
    "latency": Case(
        "type: latency, delay: 5s", "database",
        lambda c, base: _toxics(c) == ["chaosrunner-f1-0"],
        lambda c, base: _toxics(c) == []),
    "error": Case(
        "type: error, error_rate: 0.5", "database",
        lambda c, base: _toxics(c) == ["chaosrunner-f1-0"],
        lambda c, base: _toxics(c) == []),
}


@pytest.fixture
def proxy(cluster, web):
    """The Toxiproxy in front of the PostgreSQL Service (here: in front of a real loopback service)."""
    with start_in_thread(port=0) as server:
        import urllib.request

        req = urllib.request.Request(server.api_url + "/proxies", method="POST", data=json.dumps(
            {"name": "postgres", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{web.port}"}).encode())
        urllib.request.urlopen(req, timeout=5).close()
        cluster.proxy_api = server.api_url
        yield server


def experiment(tmp_path: Path, case: Case, duration: str, api: str) -> Path:
    write(tmp_path / "inv.yaml", INVENTORY.replace("{api}", api))
    return write(tmp_path / "exp.yaml", f"""\
name: k8s-fault
targets: inv.yaml
steady_state:
  - probe: {{type: command, name: alive, command: "true"}}
method:
  - action: {{{case.action}, target: {case.target}, duration: {duration}}}
sampling: {{interval: 100ms, stable_for: 200ms}}
""")


def baseline(c) -> dict:
    return {"api": names(pods(c, API)),
            "zone-a": names([p for p in c.list("Pod", NS) if p["spec"].get("nodeName") == "node-1"])}


def start_run(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(tmp_path / "exp.yaml"),
                             "--non-interactive", "--report-dir", str(tmp_path / "r")],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ledger(state: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((state / "ledger").glob("*.json"))]


@pytest.mark.parametrize("which", list(CASES))
def test_the_fault_shows_while_it_lasts_and_is_gone_after(cluster, proxy, tmp_path, isolated_state, which):
    case = CASES[which]
    base = baseline(cluster)
    assert not case.during(cluster, base)
    experiment(tmp_path, case, "3s", proxy.api_url)
    run = start_run(tmp_path)
    try:
        wait_until(lambda: case.during(cluster, base) or run.poll() is not None, timeout=60,
                   what=f"{which} visible in the cluster")
        assert case.during(cluster, base), run.communicate()[1]
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, out + err
    assert case.after(cluster, base)
    assert ledger(isolated_state) == []


@pytest.mark.parametrize("which", list(CASES))
def test_recover_removes_the_fault_after_kill_9_mid_fault(cluster, proxy, tmp_path, isolated_state, which):
    case = CASES[which]
    base = baseline(cluster)
    experiment(tmp_path, case, "10m", proxy.api_url)
    run = start_run(tmp_path)
    try:
        wait_until(lambda: (case.during(cluster, base) and any(e["state"] == "active" for e in ledger(isolated_state)))
                   or run.poll() is not None, timeout=60, what=f"{which} injected", ignore=(ValueError, OSError))
        assert run.poll() is None, run.communicate()[1]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        run.kill()
    assert case.during(cluster, base) and len(ledger(isolated_state)) == 1          # nobody reverted it
    r = run_cli("recover", env={"KUBECONFIG": "/nonexistent"})          # the handle names its kubeconfig
    assert r.returncode == 0 and "reverted" in r.stdout, r.stdout + r.stderr
    assert case.after(cluster, base) and ledger(isolated_state) == []
