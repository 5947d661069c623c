"""A loopback fake Kubernetes API (``fakeapi.FakeCluster``) holding the seed's namespaces and workloads,
and a kubeconfig that points the real ``kubernetes`` client at it (also exported as $KUBECONFIG)."""
from __future__ import annotations

import pytest

from k8s.fakeapi import FakeCluster

NS = "envoy-control"
CONTEXTS = ("envoy-control-us-west-2", "fake")


def seed_cluster(ready_delay: float = 0.3) -> FakeCluster:
    """Three nodes in three zones; the seed's API servers, control plane and PostgreSQL in envoy-control."""
    c = FakeCluster(ready_delay=ready_delay)
    for i, zone in enumerate(("us-west-2a", "us-west-2b", "us-west-2c")):
        c.add_node(f"node-{i + 1}", zone)
    c.add_workload("Deployment", NS, "api-server", 3, {"app": "api-server"}, memory_limit="8Gi")
    c.add_workload("Deployment", NS, "envoy-control-plane", 2, {"app": "envoy-control-plane"})
    c.add_workload("StatefulSet", NS, "postgres-primary", 1, {"app": "postgres", "role": "primary"})
    c.add_workload("StatefulSet", NS, "postgres-standby", 1, {"app": "postgres", "role": "standby"})
    c.add_workload("Deployment", NS, "toxiproxy", 1, {"app": "toxiproxy"})
    c.add("PodDisruptionBudget", {"metadata": {"name": "api-server"},
                                  "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "api-server"}}}}, NS)
    return c


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    c = seed_cluster()
    c.start()
    kubeconfig = c.kubeconfig(tmp_path / "kubeconfig", CONTEXTS, NS)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    c.kubeconfig_path = kubeconfig          # type: ignore[attr-defined]
    yield c
    c.stop()
