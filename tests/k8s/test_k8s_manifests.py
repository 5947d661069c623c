"""deploy/rbac.yaml and deploy/toxiproxy.yaml, checked offline with kubernetes-validate's schemas of the
Kubernetes version the CronJob export targets (no cluster), and consistent with the example inventory:
the Toxiproxy's proxies are the ones targets/k8s-example.yaml names, its Service the API address used there."""
from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from chaosrunner.schedule.export import KUBERNETES_VERSION
from support import ROOT


@pytest.mark.parametrize("name", ["rbac.yaml", "toxiproxy.yaml"])
def test_the_manifests_validate_strictly(name):
    docs = list(yaml.safe_load_all((ROOT / "deploy" / name).read_text()))
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_toxiproxy_serves_the_proxies_the_example_inventory_names():
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "toxiproxy.yaml").read_text())}
    proxies = {p["name"]: p for p in json.loads(docs["ConfigMap"]["data"]["toxiproxy.json"])}
    inv = yaml.safe_load((ROOT / "targets" / "k8s-example.yaml").read_text())
    named = {t["kubernetes"]["toxiproxy"]["proxy"]: t["kubernetes"]["toxiproxy"]["api"]
             for t in inv["targets"].values() if "toxiproxy" in t.get("kubernetes", {})}
    assert set(named) == set(proxies) == {"postgres", "external_service"}
    service = docs["Service"]["metadata"]
    assert set(named.values()) == {f"http://{service['name']}.{service['namespace']}.svc.cluster.local:8474"}
    ports = {p["port"] for p in docs["Service"]["spec"]["ports"]}
    assert {int(p["listen"].rsplit(":", 1)[1]) for p in proxies.values()} | {8474} == ports
