"""Reaching a cluster and finding what a target's handle stands for: pods, their nodes, a workload.

Each handle gets an ``ApiClient`` of its own (``new_client_from_config`` with its kubeconfig
and context, or the in-cluster service account): nothing process-wide is configured, so two
targets may live in two clusters. What is needed to reach the cluster again is kept as plain
data (``Connection``) in the fault's handle, so ``chaosrunner recover`` reconnects after a crash.
API errors become ``DriverError`` (or ``PlanError`` at plan time) here, at the edge.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaosrunner.drivers.kubernetes.model import KubernetesHandle
from chaosrunner.errors import DriverError, PlanError

MANAGED = {"app.kubernetes.io/managed-by": "chaosrunner"}
FAULT_LABEL = "chaosrunner.io/fault"
INSTALL_HINT = "pip install 'chaosrunner[kubernetes]'"


def client_module() -> Any:
    """The ``kubernetes`` package (PlanError saying how to install it when it is missing)."""
    try:
        import kubernetes
    except ImportError:
        raise PlanError("the Kubernetes driver needs the kubernetes client, which is not installed",
                        hint=INSTALL_HINT) from None
    return kubernetes


@dataclass(frozen=True)
class Connection:
    kubeconfig: str | None          # absolute path(s), ``os.pathsep``-joined as in $KUBECONFIG; None in the cluster
    context: str | None

    @classmethod
    def of(cls, h: KubernetesHandle) -> Connection:
        if h.in_cluster:
            return cls(None, None)
        if h.kubeconfig:
            path = Path(h.kubeconfig).expanduser()
        elif os.environ.get("KUBECONFIG"):
            # as kubectl reads it: a list of files, merged (the first to set a name wins), missing ones
            # skipped; the client's loader merges a list joined with the path separator
            listed = [Path(p).expanduser() for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
            found = [p for p in listed if p.is_file()]
            if not found:
                raise PlanError(f"none of the kubeconfig files in $KUBECONFIG exists: {', '.join(map(str, listed))}",
                                hint="set kubeconfig: in the target's kubernetes handle, or $KUBECONFIG, or "
                                     "in_cluster: true when chaosrunner runs in the cluster")
            return cls(os.pathsep.join(str(p.resolve()) for p in found), h.context)
        else:
            path = Path("~/.kube/config").expanduser()
            if not path.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
                return cls(None, None)
        if not path.is_file():
            raise PlanError(f"kubeconfig {path} does not exist",
                            hint="set kubeconfig: in the target's kubernetes handle, or $KUBECONFIG, or in_cluster: "
                                 "true when chaosrunner runs in the cluster")
        return cls(str(path.resolve()), h.context)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Connection:
        return cls(d.get("kubeconfig"), d.get("context"))

    def where(self) -> str:
        if self.kubeconfig is None:
            return "the in-cluster API"
        return f"context {self.context}" if self.context else f"the current context of {self.kubeconfig}"


class Cluster:
    """The typed API groups of one cluster, with errors translated."""

    def __init__(self, conn: Connection, timeout: float = 10.0):
        k8s = client_module()
        self.conn, self.timeout, self.ApiException = conn, timeout, k8s.client.exceptions.ApiException
        try:
            if conn.kubeconfig is None:
                cfg = k8s.client.Configuration()
                k8s.config.load_incluster_config(client_configuration=cfg)
                api = k8s.client.ApiClient(cfg)
            else:
                api = k8s.config.new_client_from_config(config_file=conn.kubeconfig, context=conn.context,
                                                        persist_config=False)
        except (k8s.config.ConfigException, OSError, ValueError) as exc:
            raise PlanError(f"cannot use {conn.where()}: {exc}",
                            hint="check the kubeconfig and the context named in the inventory") from None
        api.configuration.retries = 1          # fail fast: the driver retries where it means to
        self.api = api
        self.client = k8s.client
        self.core = k8s.client.CoreV1Api(api)
        self.apps = k8s.client.AppsV1Api(api)
        self.net = k8s.client.NetworkingV1Api(api)
        self.policy = k8s.client.PolicyV1Api(api)

    def call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with the timeout; None for a 404 when ``missing_ok``; DriverError otherwise."""
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except self.ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise ApiError(f"{what}: {exc.status} {exc.reason}: {_message(exc)}", exc.status) from None
        except Exception as exc:  # noqa: BLE001 - urllib3 and socket errors: the cluster is out of reach
            raise DriverError(f"{what}: cannot reach the Kubernetes API ({self.conn.where()}): "
                              f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self.api.close()


class ApiError(DriverError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError, AttributeError):
        return str(exc.body or "")


def labels_of(selector: str | None) -> dict[str, str] | None:
    """A label selector as matchLabels when it is only equalities (``a=b,c=d``), else None."""
    if not selector:
        return {}
    out: dict[str, str] = {}
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term or "=" not in term:
            return None
        k, v = term.replace("==", "=").split("=", 1)
        out[k.strip()] = v.strip()
    return out


def selector_string(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions) and not pod.metadata.deletion_timestamp


@dataclass
class Selection:
    """What a handle stands for now: its pods (and their nodes), the workload it names, its selector."""

    namespace: str
    selector: str                          # the label selector of its pods ("" = all in the namespace)
    match_labels: dict[str, str] | None    # the same as matchLabels, when it can be written so
    workload: tuple[str, str] | None       # (Deployment|StatefulSet, name)
    pods: list[Any]
    nodes: list[str]                       # the nodes: node/NAME, else those its pods run on

    def pod_names(self) -> list[str]:
        return [p.metadata.name for p in self.pods]


def select(cluster: Cluster, h: KubernetesHandle) -> Selection:
    """The pods and nodes of a handle, as the cluster has them now."""
    ns = h.namespace
    named = h.workload()
    workload = None
    node_only = None
    pods: list[Any]
    if named is not None and named[0] in ("Deployment", "StatefulSet"):
        read = cluster.apps.read_namespaced_deployment if named[0] == "Deployment" \
            else cluster.apps.read_namespaced_stateful_set
        obj = cluster.call(f"read {named[0].lower()} {ns}/{named[1]}", read, named[1], ns, missing_ok=True)
        if obj is None:
            raise PlanError(f"{named[0].lower()} {ns}/{named[1]} does not exist in {cluster.conn.where()}",
                            hint="fix the selector (or the namespace) of the target's kubernetes handle")
        match = dict((obj.spec.selector.match_labels or {}) if obj.spec.selector else {})
        workload = named
        selector = selector_string(match)
        pods = _list_pods(cluster, ns, selector)
    elif named is not None and named[0] == "Pod":
        pod = cluster.call(f"read pod {ns}/{named[1]}", cluster.core.read_namespaced_pod, named[1], ns,
                           missing_ok=True)
        if pod is None:
            raise PlanError(f"pod {ns}/{named[1]} does not exist in {cluster.conn.where()}")
        pods, selector, match = [pod], "", None
    elif named is not None:                     # node/NAME
        node_only = named[1]
        if cluster.call(f"read node {named[1]}", cluster.core.read_node, named[1], missing_ok=True) is None:
            raise PlanError(f"node {named[1]} does not exist in {cluster.conn.where()}")
        pods = [p for p in cluster.call(f"list pods on {named[1]}", cluster.core.list_namespaced_pod, ns,
                                        field_selector=f"spec.nodeName={named[1]}").items]
        selector, match = "", None
    else:
        selector = h.selector or ""
        match = labels_of(selector)
        pods = _list_pods(cluster, ns, selector)
    pods = [p for p in pods if not p.metadata.deletion_timestamp and
            (p.metadata.labels or {}).get(MANAGED_KEY) != MANAGED_VALUE]       # never our own stress pods
    if h.zone is not None:
        zone_nodes = {n.metadata.name for n in cluster.call(
            f"list nodes of zone {h.zone}", cluster.core.list_node, label_selector=f"{h.zone_label}={h.zone}").items}
        if not zone_nodes:
            raise PlanError(f"no node has {h.zone_label}={h.zone} in {cluster.conn.where()}",
                            hint="fix zone: (or zone_label:) in the target's kubernetes handle")
        pods = [p for p in pods if p.spec.node_name in zone_nodes]
        match = None                            # the zone's pods are labelled and selected by that label
    nodes = [node_only] if node_only else sorted({p.spec.node_name for p in pods if p.spec.node_name})
    return Selection(ns, selector, match, workload, sorted(pods, key=lambda p: p.metadata.name), nodes)


MANAGED_KEY, MANAGED_VALUE = next(iter(MANAGED.items()))


def _list_pods(cluster: Cluster, ns: str, selector: str) -> list[Any]:
    return list(cluster.call(f"list pods {selector or '(all)'} in {ns}", cluster.core.list_namespaced_pod, ns,
                             label_selector=selector or None).items)
