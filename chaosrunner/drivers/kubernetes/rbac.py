"""The least rights of the Kubernetes driver, as RBAC rules (deploy/rbac.yaml holds the same, as a
Role, a ClusterRole and their bindings; tests/k8s/test_k8s_driver.py checks both against the
requests the driver makes). ``ROLE_RULES`` are granted in each namespace a target lives in;
``CLUSTER_RULES`` only ``node-drain`` needs (nodes are cluster-wide, and so are the pods a drained
node runs)."""
from __future__ import annotations

from typing import Any

ROLE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": ["get", "patch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["get", "list", "create", "delete"]},
]
CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
]
