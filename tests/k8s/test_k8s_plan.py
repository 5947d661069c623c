"""``validate`` and ``plan`` of the seed's §10.1 experiments (experiments/seed-experiments.yaml, unchanged)
against the Kubernetes example inventory (targets/k8s-example.yaml, unchanged), and every way a
Kubernetes target can be wrong: exit 2, a clear message with its file and line, no traceback.

The cluster is the loopback fake Kubernetes API (tests/k8s/fakeapi.py) holding the seed's
namespace and workloads; $KUBECONFIG points the real ``kubernetes`` client at it, with the context
the example inventory names (envoy-control-us-west-2).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import ROOT, run_cli, write

SEED = ROOT / "experiments" / "seed-experiments.yaml"
EXAMPLE = ROOT / "targets" / "k8s-example.yaml"


def test_the_seed_experiments_validate_against_the_k8s_example(cluster):
    r = run_cli("validate", str(SEED), "--targets", str(EXAMPLE))
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("database-failure", "memory-pressure", "cascading-failure"):
        assert f"ok: {name}" in r.stdout


def test_plan_lists_every_fault_with_its_driver_and_the_pods_it_hits(cluster):
    r = run_cli("plan", "--json", str(SEED), "--targets", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    plans = {p["experiment"]: p for p in json.loads(r.stdout)}
    assert list(plans) == ["database-failure", "memory-pressure", "cascading-failure"]
    faults = {name: [(f["target"], f["driver"]) for s in p["method"] + p.get("rollback", []) for f in s["faults"]]
              for name, p in plans.items()}
    assert faults == {"database-failure": [("postgres-primary", "kubernetes"), ("postgres-primary", "kubernetes")],
                      "memory-pressure": [("api-server", "kubernetes")],
                      "cascading-failure": [("database", "kubernetes"), ("external-service", "kubernetes")]}
    assert all(p["drivers"] == ["kubernetes"] for p in plans.values())
    [partition] = plans["database-failure"]["method"][0]["faults"]
    assert "NetworkPolicy chaosrunner-f1" in partition["inject"] and "postgres-primary-0" in partition["inject"]
    [memory] = plans["memory-pressure"]["method"][0]["faults"]
    api_pods = sorted(p["metadata"]["name"] for p in cluster.list("Pod", "envoy-control")
                      if p["metadata"]["labels"]["app"] == "api-server")
    assert all(pod in memory["inject"] for pod in api_pods) and "blast radius: 3 pods" in memory["inject"]
    assert "nodes node-1, node-2, node-3" in memory["inject"]
    latency = plans["cascading-failure"]["method"][0]["faults"][0]
    assert "latency" in latency["inject"] and "proxy postgres" in latency["inject"]
    assert "postgres-primary" in plans["database-failure"]["outside_loopback"]     # a cluster: not this machine


def _inventory(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text
    return write(tmp_path / "inv.yaml", text.replace(old, new))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_selector_matching_more_than_max_targets_is_refused(cluster, tmp_path):
    inv = _inventory(tmp_path, "selector: deployment/api-server,\n                 max_targets: 50",
                     "selector: deployment/api-server,\n                 max_targets: 2")
    r = run_cli("plan", str(SEED), "--targets", str(inv), "--only", "memory-pressure")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{SEED.name}:{_line_of(SEED, 'target: api-server')}" in r.stderr
    assert "selector 'deployment/api-server' matches 3 pods in namespace envoy-control, more than max_targets (2)" \
        in " ".join(r.stderr.split())
    assert "hint:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("old, new, only, words", [
    ("selector: deployment/api-server,", "selector: deployment/api-servers,", "memory-pressure",
     "deployment envoy-control/api-servers does not exist"),
    ('selector: "app=postgres,role=primary"', 'selector: "app=postgres,role=leader"', "database-failure",
     "selector 'app=postgres,role=leader' matches no pod in namespace envoy-control"),
    ("zone: us-west-2a", "zone: us-east-1a", None, "no node has topology.kubernetes.io/zone=us-east-1a"),
    ("context: envoy-control-us-west-2, namespace: envoy-control, selector: deployment/api-server",
     "context: envoy-control-eu, namespace: envoy-control, selector: deployment/api-server", "memory-pressure",
     "cannot use context envoy-control-eu"),
    ("      toxiproxy: {api: \"http://toxiproxy.envoy-control.svc.cluster.local:8474\", proxy: postgres}\n", "",
     "cascading-failure", "a latency fault on 'database' goes through a Toxiproxy in front of its Service"),
])
def test_a_wrong_kubernetes_target_is_a_plan_error(cluster, tmp_path, old, new, only, words):
    inv = _inventory(tmp_path, old, new)
    if only is None:                         # a partition of the zone instead of the primary alone
        exp = write(tmp_path / "exp.yaml", SEED.read_text().replace("target: postgres-primary\n          operation: "
                                                                      "partition", "target: zone-a\n          "
                                                                                   "operation: partition"))
        only = "database-failure"
    else:
        exp = SEED
    r = run_cli("plan", str(exp), "--targets", str(inv), "--only", only)
    assert r.returncode == 2, r.stdout + r.stderr
    assert words in " ".join(r.stderr.split()) and "Traceback" not in r.stderr, r.stderr
    assert f"{exp.name}:" in r.stderr


def test_a_scale_fault_needs_a_workload(cluster, tmp_path):
    write(tmp_path / "inv.yaml", EXAMPLE.read_text())
    exp = write(tmp_path / "exp.yaml", "name: s\ntargets: inv.yaml\nmethod:\n"
                                       "  - action: {type: scale, target: postgres-primary, replicas: 0}\n")
    r = run_cli("plan", str(exp))
    assert r.returncode == 2 and f"{exp.name}:4:" in r.stderr
    assert "a scale fault needs a workload" in " ".join(r.stderr.split()) and "statefulset/NAME" in r.stderr


@pytest.mark.slow
def test_an_unreachable_cluster_or_kubeconfig_is_a_plan_error(cluster, tmp_path):
    cluster.stop()
    r = run_cli("plan", str(SEED), "--targets", str(EXAMPLE), "--only", "memory-pressure")
    assert r.returncode == 2 and "cannot reach the Kubernetes API (context envoy-control-us-west-2)" in \
        " ".join(r.stderr.split()) and "Traceback" not in r.stderr, r.stderr
    r = run_cli("plan", str(SEED), "--targets", str(EXAMPLE), "--only", "memory-pressure",
                env={"KUBECONFIG": str(tmp_path / "missing")})
    assert r.returncode == 2 and f"none of the kubeconfig files in $KUBECONFIG exists: {tmp_path / 'missing'}" \
        in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_kubeconfig_is_a_list_of_files_merged_as_kubectl_merges_them(cluster, tmp_path):
    """$KUBECONFIG=a:b:c: missing files skipped, the others merged (the first to name a context wins),
    the inventory's context found in whichever file has it — not only in the first."""
    import yaml

    decoy = tmp_path / "decoy.yaml"                 # another cluster's file, first in the list
    decoy.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
        "clusters": [{"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "someone", "user": {"token": "x"}}],
        "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "someone"}}]}))
    listed = ":".join([str(tmp_path / "missing"), str(decoy), str(cluster.kubeconfig_path)])
    r = run_cli("plan", "--json", str(SEED), "--targets", str(EXAMPLE), "--only", "memory-pressure",
                env={"KUBECONFIG": listed})
    assert r.returncode == 0, r.stderr
    [plan] = json.loads(r.stdout)
    assert "blast radius: 3 pods" in plan["method"][0]["faults"][0]["inject"]


@pytest.mark.parametrize("handle, column, words", [
    ("{namespace: x, selector: 'app=a b'}", 42, "'app=a b' is not a label selector; write e.g. app=api-server"),
    ("{namespace: x, selector: cronjob/x}", 42, "'cronjob/x' is not kind/name; write e.g. deployment/"),
    ("{namespace: x, max_targets: 0}", 45, "max_targets: Input should be greater than or equal to 1"),
    ("{namespace: x, selectr: app=x}", 32, "unknown key 'selectr'\n  hint: did you mean 'selector'?"),
])
def test_a_malformed_kubernetes_handle_is_a_located_error(tmp_path, handle, column, words):
    write(tmp_path / "inv.yaml", f"environment: staging\ntargets:\n  api:\n    kubernetes: {handle}\n")
    exp = write(tmp_path / "exp.yaml", "name: s\ntargets: inv.yaml\nmethod:\n"
                                       "  - action: {type: pod-kill, target: api}\n")
    r = run_cli("validate", str(exp))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"inv.yaml:4:{column}: " in r.stderr and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_pod_kill_in_percent_mode_needs_percent(tmp_path):
    write(tmp_path / "inv.yaml", "environment: staging\ntargets:\n  api:\n    kubernetes: {namespace: x}\n")
    exp = write(tmp_path / "exp.yaml", "name: s\ntargets: inv.yaml\nmethod:\n"
                                       "  - action: {type: pod-kill, target: api, mode: percent}\n")
    r = run_cli("validate", str(exp))
    assert r.returncode == 2 and "exp.yaml:4:" in r.stderr and "mode percent needs percent: e.g. 30%" in r.stderr
