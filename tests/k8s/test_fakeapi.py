"""The loopback fake Kubernetes API itself (tests/k8s/fakeapi.py): its status codes, resourceVersion
conflicts, selectors and tiny controller, seen through the real ``kubernetes`` client over HTTP (and
raw HTTP where the client would hide the answer). No cluster is involved: this is the stand-in the
driver's tests run against, so it must answer as the real API server does where the driver relies on it."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from k8s.conftest import CONTEXTS, NS
from k8s.fakeapi import TOKEN
from support import wait_until


@pytest.fixture
def api(cluster):
    api_client = config.new_client_from_config(str(cluster.kubeconfig_path), context=CONTEXTS[0],
                                               persist_config=False)
    yield client.CoreV1Api(api_client), client.AppsV1Api(api_client), client.NetworkingV1Api(api_client)
    api_client.close()


def raw(cluster, method: str, path: str, body: object = None, token: str | None = TOKEN,
        content_type: str = "application/json") -> tuple[int, dict]:
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(cluster.url + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def status_of(call) -> tuple[int, str]:
    with pytest.raises(ApiException) as err:
        call()
    return err.value.status, json.loads(err.value.body)["reason"]


def test_without_the_token_every_call_is_401(cluster):
    code, body = raw(cluster, "GET", f"/api/v1/namespaces/{NS}/pods", token=None)
    assert (code, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    assert raw(cluster, "GET", f"/api/v1/namespaces/{NS}/pods", token="wrong")[0] == 401


def test_lists_filter_by_label_and_field_selectors(api, cluster):
    core, _, _ = api
    assert len(core.list_namespaced_pod(NS, label_selector="app=api-server").items) == 3
    assert [p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=postges").items] == []
    pg = core.list_namespaced_pod(NS, label_selector="app=postgres,role!=standby").items
    assert [p.metadata.name for p in pg] == ["postgres-primary-0"]
    node = pg[0].spec.node_name
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert "postgres-primary-0" in [p.metadata.name for p in on_node]
    assert all(p.spec.node_name == node for p in on_node)
    assert len(core.list_namespaced_pod("other").items) == 0


def test_missing_objects_are_404_not_found(api):
    core, apps, net = api
    assert status_of(lambda: core.read_namespaced_pod("nope", NS)) == (404, "NotFound")
    assert status_of(lambda: apps.read_namespaced_deployment_scale("nope", NS)) == (404, "NotFound")
    assert status_of(lambda: net.delete_namespaced_network_policy("nope", NS)) == (404, "NotFound")
    assert status_of(lambda: core.read_node("node-9")) == (404, "NotFound")


def test_creating_an_existing_object_is_409_already_exists(api):
    _, _, net = api
    body = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    created = net.create_namespaced_network_policy(NS, body)
    assert created.metadata.resource_version and created.metadata.uid
    assert status_of(lambda: net.create_namespaced_network_policy(NS, body)) == (409, "AlreadyExists")
    net.delete_namespaced_network_policy("deny", NS)
    assert net.list_namespaced_network_policy(NS).items == []


def test_a_write_with_an_outdated_resource_version_is_409_conflict(api):
    core, _, _ = api
    node = core.read_node("node-1")
    old = node.metadata.resource_version
    core.patch_node("node-1", {"spec": {"unschedulable": True}})
    assert core.read_node("node-1").metadata.resource_version != old
    stale = {"metadata": {"resourceVersion": old}, "spec": {"unschedulable": False}}
    assert status_of(lambda: core.patch_node("node-1", stale)) == (409, "Conflict")
    assert status_of(lambda: core.replace_node("node-1", {**stale, "metadata": {"name": "node-1",
                                                                                 "resourceVersion": old}})) \
        == (409, "Conflict")
    assert core.read_node("node-1").spec.unschedulable is True          # nothing written
    fresh = core.read_node("node-1")
    fresh.spec.unschedulable = False
    assert core.replace_node("node-1", fresh).spec.unschedulable is False


def test_bad_writes_are_422_415_and_watches_405(api, cluster):
    _, apps, _ = api
    assert status_of(lambda: apps.patch_namespaced_deployment_scale("api-server", NS, {"spec": {"replicas": -1}})) \
        == (422, "Invalid")
    code, body = raw(cluster, "PUT", "/api/v1/nodes/node-1", {"metadata": {"name": "node-1"}, "spec": {}})
    assert (code, body["reason"]) == (422, "Invalid")
    code, body = raw(cluster, "PATCH", "/api/v1/nodes/node-1", [{"op": "add", "path": "/spec/x", "value": 1}],
                     content_type="application/json-patch+json")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    code, body = raw(cluster, "GET", f"/api/v1/namespaces/{NS}/pods?watch=true")
    assert (code, body["reason"]) == (405, "MethodNotAllowed")


def test_a_deleted_pod_is_replaced_and_ready_after_the_delay(api, cluster):
    core, _, _ = api
    before = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=api-server").items}
    victim = sorted(before)[0]
    deleted = core.delete_namespaced_pod(victim, NS, grace_period_seconds=7)
    assert deleted.metadata.name == victim and cluster.deletions[-1]["grace"] == 7
    now = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=api-server").items}
    assert victim not in now and len(now) == 3
    assert len(cluster.ready_pods(NS, {"app": "api-server"})) == 2          # the replacement is starting
    wait_until(lambda: len(cluster.ready_pods(NS, {"app": "api-server"})) == 3, timeout=5)
    reasons = [e.reason for e in core.list_namespaced_event(NS, field_selector=f"involvedObject.name={victim}").items]
    assert reasons == ["Killing"]


def test_an_eviction_that_breaks_a_disruption_budget_is_429(api, cluster):
    core, _, _ = api
    first, second, _ = sorted(cluster.ready_pods(NS, {"app": "api-server"}))
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=first, namespace=NS))
    core.create_namespaced_pod_eviction(first, NS, body)                    # 3 ready, minAvailable 2: allowed
    body2 = client.V1Eviction(metadata=client.V1ObjectMeta(name=second, namespace=NS))
    assert status_of(lambda: core.create_namespaced_pod_eviction(second, NS, body2)) == (429, "TooManyRequests")
    time.sleep(cluster.ready_delay + 0.1)                                     # the replacement is Ready
    core.create_namespaced_pod_eviction(second, NS, body2)
    assert second not in cluster.ready_pods(NS, {"app": "api-server"})


def test_scale_and_template_changes_are_reconciled(api, cluster):
    _, apps, _ = api
    apps.patch_namespaced_deployment_scale("api-server", NS, {"spec": {"replicas": 1}})
    assert apps.read_namespaced_deployment_scale("api-server", NS).spec.replicas == 1
    assert len(cluster.list("Pod", NS)) == 6            # 1 api-server, 2 control plane, 2 postgres, 1 toxiproxy
    apps.patch_namespaced_deployment_scale("api-server", NS, {"spec": {"replicas": 3}})
    old = set(cluster.ready_pods(NS, {"app": "envoy-control-plane"}))
    apps.patch_namespaced_deployment("envoy-control-plane", NS, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}})
    new = {p["metadata"]["name"] for p in cluster.list("Pod", NS) if p["metadata"]["labels"]["app"]
           == "envoy-control-plane"}
    assert len(new) == 2 and not new & old
    wait_until(lambda: apps.read_namespaced_deployment("envoy-control-plane", NS).status.ready_replicas == 2,
               timeout=5)
    d = apps.read_namespaced_deployment("envoy-control-plane", NS)
    assert (d.status.updated_replicas, d.status.observed_generation) == (2, d.metadata.generation)
