"""The Kubernetes driver called directly (in this process), against the loopback fake Kubernetes API
(tests/k8s/fakeapi.py, reached by the real ``kubernetes`` client through a kubeconfig; no cluster):

- a run that dies mid-inject leaves no handle in the ledger; ``handle_from_intent`` rebuilds one
  from the fault's names, labels and annotations, and its revert removes what the inject did;
- every request the driver makes is allowed by deploy/rbac.yaml (the same rules as
  ``chaosrunner.drivers.kubernetes.rbac``), and every right there is used.
"""
from __future__ import annotations

import pytest
import yaml

from chaosrunner.drivers import PlannedFault, registry
from chaosrunner.drivers.kubernetes.rbac import CLUSTER_RULES, ROLE_RULES
from chaosrunner.model.experiment import MethodStep
from chaosrunner.model.targets import Inventory
from k8s.conftest import NS
from support import ROOT


def _faults(kubeconfig: str) -> dict[str, PlannedFault]:
    registry()
    inv = Inventory.model_validate({"environment": "staging", "targets": {
        "api": {"kubernetes": {"namespace": NS, "selector": "deployment/api-server", "kubeconfig": kubeconfig,
                               "context": "envoy-control-us-west-2"}},
        "pg": {"kubernetes": {"namespace": NS, "selector": "app=postgres,role=primary", "kubeconfig": kubeconfig}},
        "zone": {"kubernetes": {"namespace": NS, "zone": "us-west-2b", "kubeconfig": kubeconfig}},
        "pg-sts": {"kubernetes": {"namespace": NS, "selector": "statefulset/postgres-primary",
                                  "kubeconfig": kubeconfig}},
        "standby": {"kubernetes": {"namespace": NS, "selector": "pod/postgres-standby-0", "kubeconfig": kubeconfig}},
    }})
    actions = {
        "pod-kill": ("api", {"type": "pod-kill", "mode": "all"}),
        "partition": ("pg", {"type": "network", "operation": "partition", "direction": "upstream"}),
        "zone-partition": ("zone", {"type": "network", "operation": "partition"}),
        "scale": ("api", {"type": "scale", "replicas": 0}),
        "node-drain": ("api", {"type": "node-drain", "count": 2}),
        "rollout-restart": ("api", {"type": "rollout-restart"}),
        "cpu": ("api", {"type": "resource", "resource": "cpu", "consumption": "50%", "duration": "1m"}),
        "scale-statefulset": ("pg-sts", {"type": "scale", "replicas": 0}),
        "pod-partition": ("standby", {"type": "network", "operation": "partition", "direction": "downstream"}),
        "restore": ("pg", {"type": "network", "operation": "restore"}),
    }
    return {k: PlannedFault(f"f{i}", MethodStep.model_validate({"action": {**a, "target": t}}).action, t,
                            inv.targets[t], "kubernetes") for i, (k, (t, a)) in enumerate(actions.items())}


def _changed(c, which: str) -> bool:
    pods = c.list("Pod", NS)
    if which in ("partition", "zone-partition", "pod-partition"):
        return bool(c.list("NetworkPolicy", NS)) or any("chaosrunner.io/fault" in p["metadata"].get("labels", {})
                                                        for p in pods)
    if which == "scale":
        return c.get("Deployment", NS, "api-server")["spec"]["replicas"] != 3
    if which == "scale-statefulset":
        return c.get("StatefulSet", NS, "postgres-primary")["spec"]["replicas"] != 1
    if which == "node-drain":
        return any(n["spec"].get("unschedulable") for n in c.list("Node"))
    if which == "cpu":
        return any(p["metadata"]["name"].startswith("chaosrunner-") for p in pods)
    return len(c.ready_pods(NS, {"app": "api-server"})) != 3            # pod-kill, rollout-restart


@pytest.mark.parametrize("which", ["pod-kill", "partition", "zone-partition", "pod-partition", "scale",
                                   "scale-statefulset", "node-drain", "rollout-restart", "cpu"])
def test_a_fault_whose_handle_was_never_written_is_reverted_from_its_intent(cluster, which):
    fault = _faults(str(cluster.kubeconfig_path))[which]
    driver = registry()["kubernetes"]()
    driver.check(fault)
    driver.inject(fault)                                  # the handle it returns is lost with the run
    assert _changed(cluster, which) or which == "rollout-restart"
    fresh = registry()["kubernetes"]()                    # `chaosrunner recover`, another process
    handle = fresh.handle_from_intent(fault)
    assert handle is not None and handle.driver == "kubernetes"
    fresh.revert(handle)
    assert not _changed(cluster, which)
    fresh.revert(handle)                                  # idempotent
    fresh.close()
    driver.close()


def _allowed(rules: list[dict], verb: str, group: str, resource: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


@pytest.mark.slow
def test_every_request_of_the_driver_is_allowed_by_deploy_rbac_and_every_right_is_used(cluster):
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text())}
    role, cluster_role = docs["Role"]["rules"], docs["ClusterRole"]["rules"]
    assert docs["Role"]["metadata"]["namespace"] == NS
    assert (role, cluster_role) == (ROLE_RULES, CLUSTER_RULES)       # what `schedule export k8s-cronjob` grants
    driver = registry()["kubernetes"]()
    for fault in _faults(str(cluster.kubeconfig_path)).values():
        driver.check(fault)
        driver.describe(fault)
        driver.revert(driver.inject(fault))
        driver.revert(driver.handle_from_intent(fault))
    driver.close()
    used: set[tuple[str, str, str, str]] = set()
    for verb, group, resource, ns in sorted(cluster.requests):
        if ns == NS and _allowed(role, verb, group, resource):
            used.add(("Role", verb, group, resource))
        elif _allowed(cluster_role, verb, group, resource):
            used.add(("ClusterRole", verb, group, resource))
        else:
            raise AssertionError(f"{verb} {group or 'core'}/{resource} in {ns} is not allowed by deploy/rbac.yaml")
    granted = {(kind, v, g, res) for kind, rules in (("Role", role), ("ClusterRole", cluster_role))
               for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    probes_only = {("Role", "list", "", "events")}        # the k8s event probes (test_k8s_probes.py)
    assert granted - used == probes_only, f"rights never used: {sorted(granted - used - probes_only)}"
