"""The Kubernetes driver: faults on a cluster's pods, nodes and workloads, each reverted and verified.

A target reaches the cluster through its ``kubernetes:`` handle (``KubernetesHandle``: namespace,
selector, max_targets, context/kubeconfig or in-cluster, zone, and the Toxiproxy in front of its
Service). What each fault does, and how its revert shows that it is gone:

- ``pod-kill``: deletes one, ``count``, ``percent`` or all of the matching pods (alphabetical
  order, as chaostoolkit-kubernetes' ``terminate_pods`` picks them, so ``plan`` names them) with
  the grace period given; the revert waits until as many pods are Ready as before (``wait_ready``);
- ``network partition``: a NetworkPolicy ``chaosrunner-<fault>`` that selects the pods and
  denies ingress (``direction: upstream``), egress (``downstream``) or both; with the handle's
  ``zone:``, the pods on that zone's nodes are labelled ``chaosrunner.io/fault=<fault>`` and may
  only talk among themselves (the zone cut off from the others). The revert deletes the policy
  and the labels and reads both back gone. ``network restore`` removes every such policy of the
  namespace (and Toxiproxy toxics, when the handle names a Toxiproxy);
- ``latency``, ``error``, ``network loss|bandwidth``: toxics on the Toxiproxy in front of the
  target's Service (``deploy/toxiproxy.yaml``), added and removed by the toxiproxy driver's code;
- ``resource memory|cpu``: a stress-ng pod on each target pod's node, with the target
  container's limits, using ``consumption`` of them; deleted on revert (and seen gone); its
  ``activeDeadlineSeconds`` ends it even if nothing reverts it;
- ``node-drain``: cordons the nodes the pods run on (annotated ``chaosrunner.io/cordoned-by``)
  and evicts their pods through the Eviction API, retrying while a PodDisruptionBudget says 429;
  the revert uncordons the nodes it cordoned and reads them back schedulable;
- ``scale``: sets a Deployment's or StatefulSet's replicas through its scale subresource, the
  replicas before written first as an annotation; the revert restores and reads them back;
- ``rollout-restart``: what ``kubectl rollout restart`` does (a ``restartedAt`` template
  annotation); the revert waits for the rollout to finish.

Every handle carries the connection (kubeconfig path and context) and the names it needs, so
``chaosrunner recover`` reverts it in another process; ``handle_from_intent`` rebuilds it from
the names, labels and annotations when a run died mid-inject.

The calls go through the ``kubernetes`` client with an ``ApiClient`` per handle. The fault
actions of chaostoolkit-kubernetes are not used for these faults: they configure the client
process-wide from ``$KUBECONFIG`` (one cluster per process), return nothing a revert could use,
and its ``drain_nodes`` fails at the first eviction a PodDisruptionBudget refuses instead of
retrying; its probes are usable as they are through ``type: provider`` probes.
"""
from __future__ import annotations

import math
import time
from decimal import Decimal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.drivers.kubernetes.cluster import (
    FAULT_LABEL,
    MANAGED,
    ApiError,
    Cluster,
    Connection,
    Selection,
    is_ready,
    select,
    selector_string,
)
from chaosrunner.drivers.kubernetes.model import (
    KubernetesHandle,
    NodeDrainFault,
    PodKillFault,
    RolloutRestartFault,
    ScaleFault,
)
from chaosrunner.errors import DriverError, PlanError
from chaosrunner.model.faults import ErrorFault, LatencyFault, NetworkFault, ResourceFault

STRESS_IMAGE = "ghcr.io/colinianking/stress-ng:latest"
CORDONED_BY = "chaosrunner.io/cordoned-by"
REPLICAS_BEFORE = "chaosrunner.io/replicas-before"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POLL = 0.25


def _via_toxiproxy(spec: Any) -> bool:
    return spec.type in ("latency", "error") or (spec.type == "network" and spec.operation in ("loss", "bandwidth"))


def _policy_name(fault_id: str) -> str:
    return f"chaosrunner-{fault_id}"


def _pods_to_kill(spec: PodKillFault, pods: list[Any]) -> list[Any]:
    n = {"one": 1, "fixed": spec.count, "all": len(pods),
         "percent": math.ceil((spec.percent or 0.0) * len(pods))}[spec.mode]
    return pods[:min(n, len(pods))]


def _names(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _wait(what: str, timeout: float, done: Callable[[], tuple[bool, str]]) -> None:
    """Poll ``done`` until it says True; DriverError with its last word after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        ok, state = done()
        if ok:
            return
        if time.monotonic() >= deadline:
            raise DriverError(f"{what} not seen within {timeout:g}s: {state}")
        time.sleep(POLL)


class KubernetesDriver(Driver):
    name = "kubernetes"
    fault_models = (PodKillFault, NodeDrainFault, ScaleFault, RolloutRestartFault,
                    NetworkFault, LatencyFault, ErrorFault, ResourceFault)
    handle = "kubernetes"
    handle_model = KubernetesHandle

    def __init__(self) -> None:
        self._clusters: dict[Connection, Cluster] = {}
        self._selections: dict[str, Selection] = {}

    # -- connections ------------------------------------------------------------------------
    def _cluster(self, conn: Connection, timeout: float = 10.0) -> Cluster:
        if conn not in self._clusters:
            self._clusters[conn] = Cluster(conn, timeout)
        cluster = self._clusters[conn]
        cluster.timeout = timeout
        return cluster

    def _base(self, fault: PlannedFault) -> tuple[KubernetesHandle, Cluster]:
        h: KubernetesHandle = fault.handle()
        return h, self._cluster(Connection.of(h), min(fault.spec.timeout, 30.0))

    def close(self) -> None:
        for cluster in self._clusters.values():
            cluster.close()
        self._clusters.clear()

    # -- plan time --------------------------------------------------------------------------
    def _selection(self, fault: PlannedFault, fresh: bool = False) -> Selection:
        if fresh or fault.fault_id not in self._selections:
            h, cluster = self._base(fault)
            self._selections[fault.fault_id] = select(cluster, h)
        return self._selections[fault.fault_id]

    def check(self, fault: PlannedFault) -> None:
        h: KubernetesHandle = fault.handle()
        spec = fault.spec
        if _via_toxiproxy(spec):
            if h.toxiproxy is None:
                raise PlanError(f"a {spec.type} fault on {fault.target_name!r} goes through a Toxiproxy in front of "
                                "its Service, and its kubernetes handle names none",
                                hint="add toxiproxy: {api: http://<toxiproxy service>:8474, proxy: <name>} to the "
                                     "handle (deploy/toxiproxy.yaml)")
            return
        if spec.type == "network" and spec.undoes():
            return
        try:
            sel = self._selection(fault)
        except DriverError as exc:
            raise PlanError(str(exc), hint="check the kubeconfig, the context and that the cluster is up") from None
        what = f"selector {h.selector!r}" if h.selector else "the whole namespace"
        if spec.type in ("scale", "rollout-restart") and sel.workload is None:
            raise PlanError(f"a {spec.type} fault needs a workload: the kubernetes handle of {fault.target_name!r} "
                            f"has {what}", hint="selector: deployment/NAME or statefulset/NAME")
        if spec.type == "node-drain":
            if not sel.nodes:
                raise PlanError(f"{what} in namespace {h.namespace} runs on no node: nothing to drain")
            hit = sel.nodes[:spec.count]
            if len(hit) > h.max_targets:
                raise PlanError(f"{what} would drain {len(hit)} nodes, more than max_targets ({h.max_targets})",
                                hint="lower count:, narrow the selector or raise max_targets in the inventory")
            return
        if spec.type in ("scale", "rollout-restart"):
            return
        if not sel.pods:
            raise PlanError(f"{what} matches no pod in namespace {h.namespace}"
                            + (f" on nodes of zone {h.zone}" if h.zone else ""),
                            hint="fix the selector or the namespace of the target's kubernetes handle")
        if len(sel.pods) > h.max_targets:
            raise PlanError(f"{what} matches {len(sel.pods)} pods in namespace {h.namespace}, more than "
                            f"max_targets ({h.max_targets}): {_names(sel.pod_names())}",
                            hint="narrow the selector, or raise max_targets in the inventory if that is the "
                                 "blast radius you mean")
        if spec.type == "resource" and not sel.nodes:
            raise PlanError(f"the pods of {what} are not scheduled on any node yet: no node to put pressure on")

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        h: KubernetesHandle = fault.handle()
        spec = fault.spec
        if _via_toxiproxy(spec):
            from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

            inject, revert = ToxiproxyDriver().describe(self._toxiproxy_fault(fault, h))
            return f"{inject} (the Toxiproxy in front of the Service)", revert
        if spec.type == "network" and spec.undoes():
            return (f"delete chaosrunner's NetworkPolicies in namespace {h.namespace}"
                    + (" and remove its toxics" if h.toxiproxy else ""), "nothing")
        sel = self._selection(fault)
        where = f"in namespace {h.namespace}"
        radius = f"blast radius: {len(sel.pods)} pods ({_names(sel.pod_names())}) on nodes {_names(sel.nodes)}"
        if spec.type == "pod-kill":
            hit = [p.metadata.name for p in _pods_to_kill(spec, sel.pods)]
            grace = f", grace period {spec.grace_period:g}s" if spec.grace_period is not None else ""
            return (f"delete {len(hit)} of {len(sel.pods)} pods {where} (mode {spec.mode}{grace}): {_names(hit)}; "
                    f"{radius}",
                    f"wait until {len(sel.pods)} pods are Ready again (at most {spec.ready_timeout:g}s)"
                    if spec.wait_ready else "nothing (see the pods gone)")
        if spec.type == "network":
            types = {"both": "ingress and egress", "upstream": "ingress", "downstream": "egress"}[spec.direction]
            zone = f" on nodes of zone {h.zone}, cut off from the rest" if h.zone else ""
            return (f"create NetworkPolicy {_policy_name(fault.fault_id)} {where} denying {types} of "
                    f"{len(sel.pods)} pods{zone}: {_names(sel.pod_names())}; {radius}",
                    f"delete NetworkPolicy {_policy_name(fault.fault_id)}" + (" and the zone labels" if h.zone else ""))
        if spec.type == "resource":
            return (f"start a stress-ng pod using {spec.consumption:.0%} of the {spec.resource} limit of each target "
                    f"pod, on its node: {_names(sel.nodes)}; {radius}", "delete the stress pods")
        if spec.type == "node-drain":
            hit = sel.nodes[:spec.count]
            return (f"cordon nodes {_names(hit)} and evict their pods (PodDisruptionBudgets respected); blast "
                    f"radius: nodes {_names(hit)}", f"uncordon nodes {_names(hit)}")
        assert sel.workload is not None
        kind, name = sel.workload
        if spec.type == "scale":
            return (f"scale {kind.lower()} {h.namespace}/{name} from {len(sel.pods)} running pods to "
                    f"{spec.replicas} replicas; {radius}", "restore its replicas")
        return (f"rollout restart {kind.lower()} {h.namespace}/{name}; {radius}",
                f"wait for the rollout to finish (at most {spec.ready_timeout:g}s)")

    # -- inject -----------------------------------------------------------------------------
    def inject(self, fault: PlannedFault) -> Handle:
        h, cluster = self._base(fault)
        spec = fault.spec
        data: dict[str, Any] = {"conn": cluster.conn.to_dict(), "namespace": h.namespace}
        if _via_toxiproxy(spec):
            from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

            handle = ToxiproxyDriver().inject(self._toxiproxy_fault(fault, h))
            data["toxiproxy"] = handle.data
        elif spec.type == "network" and spec.undoes():
            self._restore(cluster, h)
            if h.toxiproxy is not None:
                from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

                ToxiproxyDriver().inject(self._toxiproxy_fault(fault, h))
            data["noop"] = True
        else:
            sel = self._selection(fault, fresh=True)
            inject = {"pod-kill": self._kill, "network": self._partition, "resource": self._stress,
                      "node-drain": self._drain, "scale": self._scale, "rollout-restart": self._restart}[spec.type]
            inject(cluster, fault, sel, data)
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, data)

    def _kill(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        spec: PodKillFault = fault.spec
        ready = [p for p in sel.pods if is_ready(p)]
        data.update(selector=sel.selector, workload=list(sel.workload) if sel.workload else None,
                    before_ready=len(ready), wait_ready=spec.wait_ready, ready_timeout=spec.ready_timeout, killed=[])
        c = cluster.client
        for pod in _pods_to_kill(spec, sel.pods):
            grace = None if spec.grace_period is None else math.ceil(spec.grace_period)
            body = c.V1DeleteOptions(grace_period_seconds=grace, preconditions=c.V1Preconditions(uid=pod.metadata.uid))
            cluster.call(f"delete pod {sel.namespace}/{pod.metadata.name}", cluster.core.delete_namespaced_pod,
                         pod.metadata.name, sel.namespace, body=body, missing_ok=True)
            data["killed"].append({"name": pod.metadata.name, "uid": pod.metadata.uid})

    def _partition(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        spec: NetworkFault = fault.spec
        name = _policy_name(fault.fault_id)
        types = {"both": ["Ingress", "Egress"], "upstream": ["Ingress"], "downstream": ["Egress"]}[spec.direction]
        match = sel.match_labels
        rules: dict[str, Any] = {}
        data.update(policy=name, labelled=[])
        if match is None:               # a zone, a single pod, a set-based selector: label the pods themselves
            match = {FAULT_LABEL: fault.fault_id}
            peers = [{"podSelector": {"matchLabels": dict(match)}}]
            rules = {"ingress": [{"from": peers}] if "Ingress" in types else None,
                     "egress": [{"to": peers}] if "Egress" in types else None}
            for pod in sel.pods:
                cluster.call(f"label pod {sel.namespace}/{pod.metadata.name}", cluster.core.patch_namespaced_pod,
                             pod.metadata.name, sel.namespace, {"metadata": {"labels": dict(match)}})
                data["labelled"].append(pod.metadata.name)
        body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "labels": {**MANAGED, FAULT_LABEL: fault.fault_id}},
                "spec": {"podSelector": {"matchLabels": match}, "policyTypes": types,
                         **{k: v for k, v in rules.items() if v is not None}}}
        try:
            cluster.call(f"create NetworkPolicy {sel.namespace}/{name}",
                         cluster.net.create_namespaced_network_policy, sel.namespace, body)
        except ApiError as exc:
            if exc.status == 409:
                raise DriverError(f"NetworkPolicy {sel.namespace}/{name} exists already (another chaosrunner run "
                                  "on this namespace?)", target=fault.target_name, fault=fault.type) from None
            raise

    def _stress(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        from kubernetes.utils.quantity import parse_quantity

        spec: ResourceFault = fault.spec
        data.update(label=fault.fault_id, pods=[])
        for i, pod in enumerate(p for p in sel.pods if p.spec.node_name):
            limits = next((c.resources.limits for c in pod.spec.containers
                           if c.resources and c.resources.limits and spec.resource in c.resources.limits), None)
            if not limits:
                raise DriverError(f"pod {sel.namespace}/{pod.metadata.name} sets no {spec.resource} limit: a "
                                  f"{spec.consumption:.0%} share of it is undefined", target=fault.target_name,
                                  fault=fault.type)
            if spec.resource == "memory":
                size = int(parse_quantity(limits["memory"]) * Decimal(str(spec.consumption)))
                args = ["--vm", "1", "--vm-bytes", f"{size}", "--vm-keep"]
            else:
                cpus = max(1, math.ceil(parse_quantity(limits["cpu"])))
                args = ["--cpu", str(cpus), "--cpu-load", str(round(spec.consumption * 100))]
            if fault.spec.duration:
                args += ["--timeout", f"{math.ceil(fault.spec.duration)}s"]
            name = f"chaosrunner-{fault.fault_id}-stress-{i}"
            body = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {**MANAGED, FAULT_LABEL: fault.fault_id},
                                 "annotations": {"chaosrunner.io/target-pod": pod.metadata.name}},
                    "spec": {"nodeName": pod.spec.node_name, "restartPolicy": "Never",
                             "terminationGracePeriodSeconds": 0,
                             "activeDeadlineSeconds": math.ceil(fault.spec.duration or 3600) + 60,
                             "containers": [{"name": "stress", "image": STRESS_IMAGE, "args": args,
                                             "resources": {"limits": dict(limits), "requests": dict(limits)}}]}}
            cluster.call(f"create pod {sel.namespace}/{name}", cluster.core.create_namespaced_pod, sel.namespace, body)
            data["pods"].append(name)

    def _drain(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        spec: NodeDrainFault = fault.spec
        data.update(nodes=[], evicted=[])
        hit = sel.nodes[:spec.count]
        for node in hit:
            current = cluster.call(f"read node {node}", cluster.core.read_node, node)
            if current.spec.unschedulable:
                continue                   # cordoned by someone else: drained, never uncordoned by us
            cluster.call(f"cordon node {node}", cluster.core.patch_node, node,
                         {"spec": {"unschedulable": True}, "metadata": {"annotations": {CORDONED_BY: fault.fault_id}}})
            data["nodes"].append(node)
        c = cluster.client
        for node in hit:
            pods = cluster.call(f"list pods on {node}", cluster.core.list_pod_for_all_namespaces,
                                field_selector=f"spec.nodeName={node}").items
            for pod in pods:
                owners = pod.metadata.owner_references or []
                if any(o.kind == "DaemonSet" for o in owners) or \
                        "kubernetes.io/config.mirror" in (pod.metadata.annotations or {}) or \
                        pod.status.phase in ("Succeeded", "Failed"):
                    continue
                body = c.V1Eviction(metadata=c.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace))
                self._evict(cluster, pod, body, spec.eviction_timeout, fault)
                data["evicted"].append(f"{pod.metadata.namespace}/{pod.metadata.name}")

    def _evict(self, cluster: Cluster, pod: Any, body: Any, timeout: float, fault: PlannedFault) -> None:
        where = f"{pod.metadata.namespace}/{pod.metadata.name}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                cluster.call(f"evict pod {where}", cluster.core.create_namespaced_pod_eviction, pod.metadata.name,
                             pod.metadata.namespace, body, missing_ok=True)
                return
            except ApiError as exc:
                if exc.status != 429:
                    raise
                if time.monotonic() >= deadline:
                    raise DriverError(f"evicting pod {where}: its PodDisruptionBudget has refused it for "
                                      f"{timeout:g}s", target=fault.target_name, fault=fault.type) from None
                time.sleep(1.0)

    def _scale(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        spec: ScaleFault = fault.spec
        assert sel.workload is not None
        kind, name = sel.workload
        read, patch, patch_scale = self._scale_calls(cluster, kind)
        scale = cluster.call(f"read scale of {kind.lower()} {sel.namespace}/{name}", read, name, sel.namespace)
        before = int(scale.spec.replicas or 0)
        data.update(workload=[kind, name], replicas=before)
        cluster.call(f"annotate {kind.lower()} {sel.namespace}/{name}", patch, name, sel.namespace,
                     {"metadata": {"annotations": {REPLICAS_BEFORE: str(before), FAULT_LABEL: fault.fault_id}}})
        cluster.call(f"scale {kind.lower()} {sel.namespace}/{name} to {spec.replicas}", patch_scale, name,
                     sel.namespace, {"spec": {"replicas": spec.replicas}})

    @staticmethod
    def _scale_calls(cluster: Cluster, kind: str) -> tuple[Any, Any, Any]:
        a = cluster.apps
        if kind == "Deployment":
            return a.read_namespaced_deployment_scale, a.patch_namespaced_deployment, \
                a.patch_namespaced_deployment_scale
        return a.read_namespaced_stateful_set_scale, a.patch_namespaced_stateful_set, \
            a.patch_namespaced_stateful_set_scale

    def _restart(self, cluster: Cluster, fault: PlannedFault, sel: Selection, data: dict[str, Any]) -> None:
        assert sel.workload is not None
        kind, name = sel.workload
        _, patch, _ = self._scale_calls(cluster, kind)
        data.update(workload=[kind, name], ready_timeout=fault.spec.ready_timeout)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cluster.call(f"restart {kind.lower()} {sel.namespace}/{name}", patch, name, sel.namespace,
                     {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}})

    def _restore(self, cluster: Cluster, h: KubernetesHandle) -> None:
        found = cluster.call(f"list NetworkPolicies in {h.namespace}", cluster.net.list_namespaced_network_policy,
                             h.namespace, label_selector=selector_string(MANAGED)).items
        for policy in found:
            fid = (policy.metadata.labels or {}).get(FAULT_LABEL)
            self._unpartition(cluster, h.namespace, policy.metadata.name, fid)

    def _toxiproxy_fault(self, fault: PlannedFault, h: KubernetesHandle) -> PlannedFault:
        from chaosrunner.model.targets import Target

        return PlannedFault(fault.fault_id, fault.spec, fault.target_name, Target(toxiproxy=h.toxiproxy), "toxiproxy")

    # -- revert -----------------------------------------------------------------------------
    def revert(self, handle: Handle) -> None:
        data = handle.data
        if data.get("noop"):
            return
        if "toxiproxy" in data:
            from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

            ToxiproxyDriver().revert(Handle(handle.fault_id, "toxiproxy", handle.target, handle.fault_type,
                                            data["toxiproxy"]))
            return
        cluster = self._cluster(Connection.from_dict(data["conn"]))
        revert = {"pod-kill": self._revert_kill, "network": self._revert_partition, "resource": self._revert_stress,
                  "node-drain": self._revert_drain, "scale": self._revert_scale,
                  "rollout-restart": self._revert_restart}[handle.fault_type]
        try:
            revert(cluster, handle)
        except DriverError as exc:
            raise DriverError(exc.detail, target=handle.target, fault=handle.fault_type) from None
        except PlanError as exc:            # the workload it names is gone
            raise DriverError(exc.message, target=handle.target, fault=handle.fault_type) from None

    def _revert_kill(self, cluster: Cluster, handle: Handle) -> None:
        d = handle.data
        ns = d["namespace"]
        killed = {k["uid"] for k in d.get("killed", [])}

        def pods() -> list[Any]:
            if d.get("workload"):
                kind, name = d["workload"]
                sel = select(cluster, KubernetesHandle(namespace=ns, selector=f"{kind.lower()}/{name}"))
                return sel.pods
            return list(cluster.call(f"list pods in {ns}", cluster.core.list_namespaced_pod, ns,
                                     label_selector=d.get("selector") or None).items)

        def back() -> tuple[bool, str]:
            now = pods()
            ready = [p for p in now if is_ready(p)]
            left = [p.metadata.name for p in now if p.metadata.uid in killed]
            want = d.get("before_ready")
            if want is None:
                want = max(len(now), 1)
            ok = not left and (len(ready) >= want or not d.get("wait_ready", True))
            return ok, f"{len(ready)} of {want} pods Ready" + (f"; {', '.join(left)} not gone" if left else "")

        _wait("the killed pods replaced" if d.get("wait_ready", True) else "the killed pods gone",
              float(d.get("ready_timeout", 25.0)), back)

    def _unpartition(self, cluster: Cluster, ns: str, policy: str, fault_id: str | None) -> None:
        cluster.call(f"delete NetworkPolicy {ns}/{policy}", cluster.net.delete_namespaced_network_policy, policy, ns,
                     missing_ok=True)
        if fault_id:
            for pod in cluster.call(f"list pods labelled {FAULT_LABEL}={fault_id}", cluster.core.list_namespaced_pod,
                                    ns, label_selector=f"{FAULT_LABEL}={fault_id}").items:
                cluster.call(f"unlabel pod {ns}/{pod.metadata.name}", cluster.core.patch_namespaced_pod,
                             pod.metadata.name, ns, {"metadata": {"labels": {FAULT_LABEL: None}}}, missing_ok=True)
        if cluster.call(f"read NetworkPolicy {ns}/{policy}", cluster.net.read_namespaced_network_policy, policy, ns,
                        missing_ok=True) is not None:
            raise DriverError(f"NetworkPolicy {ns}/{policy} is still there after its delete")
        if fault_id:
            left = cluster.call(f"list pods labelled {FAULT_LABEL}={fault_id}", cluster.core.list_namespaced_pod, ns,
                                label_selector=f"{FAULT_LABEL}={fault_id}").items
            if left:
                raise DriverError(f"pods {', '.join(p.metadata.name for p in left)} still carry {FAULT_LABEL}="
                                  f"{fault_id} after the revert")

    def _revert_partition(self, cluster: Cluster, handle: Handle) -> None:
        self._unpartition(cluster, handle.data["namespace"], handle.data["policy"], handle.fault_id)

    def _revert_stress(self, cluster: Cluster, handle: Handle) -> None:
        ns, label = handle.data["namespace"], f"{FAULT_LABEL}={handle.data['label']},{selector_string(MANAGED)}"
        c = cluster.client

        def gone() -> tuple[bool, str]:
            found = cluster.call(f"list stress pods in {ns}", cluster.core.list_namespaced_pod, ns,
                                 label_selector=label).items
            for pod in found:
                if not pod.metadata.deletion_timestamp:
                    cluster.call(f"delete pod {ns}/{pod.metadata.name}", cluster.core.delete_namespaced_pod,
                                 pod.metadata.name, ns, body=c.V1DeleteOptions(grace_period_seconds=0),
                                 missing_ok=True)
            return not found, "still there: " + ", ".join(p.metadata.name for p in found)

        _wait("the stress pods gone", 20.0, gone)

    def _revert_drain(self, cluster: Cluster, handle: Handle) -> None:
        fid = handle.fault_id
        nodes = set(handle.data.get("nodes", []))
        for node in cluster.call("list nodes", cluster.core.list_node).items:
            if (node.metadata.annotations or {}).get(CORDONED_BY) == fid:
                nodes.add(node.metadata.name)
        for node in sorted(nodes):
            cluster.call(f"uncordon node {node}", cluster.core.patch_node, node,
                         {"spec": {"unschedulable": None}, "metadata": {"annotations": {CORDONED_BY: None}}},
                         missing_ok=True)
            after = cluster.call(f"read node {node}", cluster.core.read_node, node, missing_ok=True)
            if after is not None and after.spec.unschedulable:
                raise DriverError(f"node {node} is still unschedulable after the uncordon")

    def _revert_scale(self, cluster: Cluster, handle: Handle) -> None:
        d = handle.data
        ns, (kind, name) = d["namespace"], d["workload"]
        read, patch, patch_scale = self._scale_calls(cluster, kind)
        before = d.get("replicas")
        if before is None:                          # rebuilt after a crash mid-inject: the annotation says
            obj = cluster.call(f"read {kind.lower()} {ns}/{name}", cluster.apps.read_namespaced_deployment
                               if kind == "Deployment" else cluster.apps.read_namespaced_stateful_set, name, ns)
            notes = obj.metadata.annotations or {}
            if notes.get(FAULT_LABEL) != handle.fault_id or REPLICAS_BEFORE not in notes:
                return                              # never scaled by this fault
            before = int(notes[REPLICAS_BEFORE])
        cluster.call(f"scale {kind.lower()} {ns}/{name} back to {before}", patch_scale, name, ns,
                     {"spec": {"replicas": before}})
        cluster.call(f"annotate {kind.lower()} {ns}/{name}", patch, name, ns,
                     {"metadata": {"annotations": {REPLICAS_BEFORE: None, FAULT_LABEL: None}}})
        now = cluster.call(f"read scale of {kind.lower()} {ns}/{name}", read, name, ns)
        if int(now.spec.replicas or 0) != before:
            raise DriverError(f"{kind.lower()} {ns}/{name} has {now.spec.replicas} replicas after the revert, not "
                              f"{before}")

    def _revert_restart(self, cluster: Cluster, handle: Handle) -> None:
        d = handle.data
        ns, (kind, name) = d["namespace"], d["workload"]
        read = cluster.apps.read_namespaced_deployment if kind == "Deployment" \
            else cluster.apps.read_namespaced_stateful_set

        def done() -> tuple[bool, str]:
            obj = cluster.call(f"read {kind.lower()} {ns}/{name}", read, name, ns)
            want, st = int(obj.spec.replicas or 0), obj.status
            updated, ready = int(st.updated_replicas or 0), int(st.ready_replicas or 0)
            ok = (st.observed_generation or 0) >= (obj.metadata.generation or 0) and updated == want \
                and ready == want and int(st.replicas or 0) == want
            return ok, f"{updated} of {want} updated, {ready} ready"

        _wait(f"the rollout of {kind.lower()} {ns}/{name} finished", float(d.get("ready_timeout", 25.0)), done)

    # -- after a crash mid-inject -----------------------------------------------------------
    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        h: KubernetesHandle = fault.handle()
        spec = fault.spec
        data: dict[str, Any] = {"conn": Connection.of(h).to_dict(), "namespace": h.namespace}
        if _via_toxiproxy(spec):
            from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

            inner = ToxiproxyDriver().handle_from_intent(self._toxiproxy_fault(fault, h))
            if inner is None:
                return None
            data["toxiproxy"] = inner.data
        elif spec.type == "network" and spec.undoes():
            data["noop"] = True
        elif spec.type == "network":
            data["policy"] = _policy_name(fault.fault_id)
        elif spec.type == "resource":
            data["label"] = fault.fault_id
        elif spec.type == "node-drain":
            data["nodes"] = []                      # the revert finds them by their annotation
        elif spec.type in ("scale", "rollout-restart"):
            workload = h.workload()
            if workload is None:
                return None
            data.update(workload=list(workload), replicas=None, ready_timeout=getattr(spec, "ready_timeout", 25.0))
        else:                                       # pod-kill: wait for the workload's pods to be Ready
            named = h.workload()
            workload = named if named is not None and named[0] in ("Deployment", "StatefulSet") else None
            data.update(selector=h.selector if named is None else None,
                        workload=list(workload) if workload else None, before_ready=None, killed=[],
                        wait_ready=spec.wait_ready, ready_timeout=spec.ready_timeout)
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, data)
