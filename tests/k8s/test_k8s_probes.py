"""The ``k8s`` probe against the loopback fake Kubernetes API (tests/k8s/fakeapi.py; the real
``kubernetes`` client over HTTP, no cluster): a workload's available/ready replicas, the Ready pods of
a selector and recent events of a kind, each seen healthy, then failing while the fake cluster is
changed, and in a real run, failing during a scale fault and healthy again after its revert."""
from __future__ import annotations

import asyncio
import json

import pytest

from chaosrunner.drivers import registry
from chaosrunner.model.experiment import Experiment
from chaosrunner.model.targets import Inventory
from chaosrunner.probes import ProbeContext, build_probe
from k8s.conftest import NS
from support import run_cli, write


def _probe(cluster, probe: dict):
    registry()
    inv = Inventory.model_validate({"environment": "staging", "targets": {
        "api": {"kubernetes": {"namespace": NS, "selector": "deployment/api-server"}},
        "pg": {"kubernetes": {"namespace": NS, "selector": "app=postgres"}}}})
    exp = Experiment.model_validate({"name": "p", "steady_state": [{"probe": probe}], "method": [{"pause": 1}]})
    return build_probe(exp.probes()[0], "p", ProbeContext(inventory=inv))


def sample(probe):
    return asyncio.run(probe.check())


def test_available_and_ready_replicas_of_a_deployment(cluster):
    available = _probe(cluster, {"type": "k8s", "target": "api", "check": "available_replicas"})
    at_least_two = _probe(cluster, {"type": "k8s", "target": "api", "check": "ready_replicas", "min": 2})
    assert sample(available).ok and sample(available).value == 3
    victim = cluster.ready_pods(NS, {"app": "api-server"})[0]
    cluster.ready_delay = 30.0
    cluster.handle("DELETE", f"/api/v1/namespaces/{NS}/pods/{victim}", None, "")
    out = sample(available)
    assert (out.ok, out.value, out.error) == (False, 2, "available_replicas is 2, not >= 3")
    assert sample(at_least_two).ok


def test_ready_pods_of_a_selector(cluster):
    probe = _probe(cluster, {"type": "k8s", "target": "pg", "check": "ready_pods", "min": 2, "max": 2})
    assert sample(probe).ok and sample(probe).value == 2
    cluster.handle("PATCH", f"/apis/apps/v1/namespaces/{NS}/statefulsets/postgres-standby/scale",
                   {"spec": {"replicas": 0}}, "application/merge-patch+json")
    assert (sample(probe).ok, sample(probe).value) == (False, 1)


def test_recent_events_of_a_kind(cluster):
    probe = _probe(cluster, {"type": "k8s", "target": "api", "check": "events", "reason": "Killing"})
    assert sample(probe).ok and sample(probe).value == 0
    victim = cluster.ready_pods(NS, {"app": "api-server"})[0]
    cluster.handle("DELETE", f"/api/v1/namespaces/{NS}/pods/{victim}", None, "")
    out = sample(probe)
    assert (out.ok, out.value, out.error) == (False, 1, "events is 1, not <= 0")
    other = _probe(cluster, {"type": "k8s", "target": "pg", "check": "events", "reason": "Killing"})
    assert sample(other).ok                                  # not about the postgres pods


def test_a_probe_of_a_missing_workload_fails_with_its_reason(cluster):
    cluster.stop()
    probe = _probe(cluster, {"type": "k8s", "target": "api", "check": "ready_pods"})
    out = sample(probe)
    assert not out.ok and "cannot reach the Kubernetes API" in out.error


@pytest.mark.parametrize("probe, words", [
    ("{type: k8s, target: api, check: events}", "check: events needs reason: the kind of event counted"),
    ("{type: k8s, target: api, check: ready_pods, reason: BackOff}", "reason: is for check: events"),
    ("{type: k8s, target: api, check: ready_pods, min: 3, max: 1}", "min: 3 is more than max: 1"),
    ("{type: k8s, target: api, check: ready_pod}", "'ready_pod' is not allowed here; expected 'available_replicas'"),
])
def test_a_malformed_k8s_probe_is_a_located_error(tmp_path, probe, words):
    write(tmp_path / "inv.yaml", f"environment: staging\ntargets:\n  api: {{kubernetes: {{namespace: {NS}}}}}\n")
    exp = write(tmp_path / "exp.yaml",
                f"name: s\ntargets: inv.yaml\nsteady_state:\n  - probe: {probe}\nmethod: [pause: 1s]\n")
    r = run_cli("validate", str(exp))
    assert r.returncode == 2 and "exp.yaml:4:" in r.stderr and words in r.stderr and "Traceback" not in r.stderr, \
        r.stderr


@pytest.mark.slow
def test_in_a_run_the_probe_fails_during_a_scale_fault_and_recovers_after(cluster, tmp_path):
    write(tmp_path / "inv.yaml", f"environment: staging\ntargets:\n"
                                 f"  api: {{kubernetes: {{namespace: {NS}, selector: deployment/api-server}}}}\n")
    exp = write(tmp_path / "exp.yaml", """\
name: scale-down
targets: inv.yaml
steady_state:
  - probe: {type: k8s, name: api available, target: api, check: available_replicas, min: 3}
method:
  - action: {type: scale, target: api, replicas: 1, duration: 2s}
sampling: {interval: 200ms, stable_for: 400ms}
""")
    r = run_cli("run", str(exp), "--non-interactive", "--report-dir", str(tmp_path / "r"))
    [run] = (tmp_path / "r").glob("*/run.json")
    record = json.loads(run.read_text())
    timeline = record["timeline"]
    out = " ".join((r.stdout + r.stderr).split())
    assert record["status"] == "failed" and r.returncode == 1, out          # the probe saw the fault
    assert "steady state held during faults" in out and "available_replicas is 1, not >= 3" in out
    [injected] = [e["t"] for e in timeline["events"] if e["kind"] == "fault_injected"]
    [reverted] = [e["t"] for e in timeline["events"] if e["kind"] == "fault_reverted"]
    during = [s for s in timeline["samples"] if injected + 0.3 < s["start"] and s["end"] < reverted]
    assert during and not any(s["ok"] for s in during) and {s["value"] for s in during} <= {1, 2, 3} - {3}
    assert timeline["samples"][-1]["ok"] and timeline["samples"][-1]["value"] == 3


def test_a_chaostoolkit_kubernetes_probe_runs_as_a_provider_probe(cluster, monkeypatch):
    """chaostoolkit-kubernetes' own probes through the Chaos Toolkit bridge: it reads $KUBECONFIG (the fake's).

    The kubernetes client reads $KUBECONFIG once, when it is imported (KUBE_CONFIG_DEFAULT_LOCATION): one
    process, one kubeconfig. This test process has seen other fakes' kubeconfigs, so it points it at this one."""
    import kubernetes.config.kube_config as kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig_path))
    probe = _probe(cluster, {"type": "provider", "tolerance": 3, "provider": {
        "type": "python", "module": "chaosk8s.pod.probes", "func": "count_pods",
        "arguments": {"label_selector": "app=api-server", "ns": NS, "phase": "Running"}}})
    out = sample(probe)
    assert (out.ok, out.value) == (True, 3), out.error
    cluster.handle("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/api-server/scale", {"spec": {"replicas": 2}},
                   "application/merge-patch+json")
    assert (sample(probe).ok, sample(probe).value) == (False, 2)
