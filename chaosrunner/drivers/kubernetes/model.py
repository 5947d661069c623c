"""What the Kubernetes driver declares: its inventory handle and the models of its own fault types.

Plain pydantic models, importable without the ``kubernetes`` client (the driver imports it when
it first talks to a cluster), so that ``validate`` and ``schema`` know these types everywhere.
The driver also injects four existing fault types with their existing models: ``network``
(partition and restore as a NetworkPolicy; loss and bandwidth through Toxiproxy), ``latency``
and ``error`` (through Toxiproxy), ``resource`` (a stress pod on the target's node).
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaosrunner.model.base import Duration, Fraction, Strict, Timeout
from chaosrunner.model.faults import Fault
from chaosrunner.model.targets import ToxiproxyHandle

KINDS = {"deployment": "Deployment", "deploy": "Deployment", "statefulset": "StatefulSet", "sts": "StatefulSet",
         "pod": "Pod", "node": "Node"}
_LABEL_TERM = re.compile(r"^!?[A-Za-z0-9][-A-Za-z0-9_./]*(?:(?:==|!=|=)[-A-Za-z0-9_.]*)?$")


class KubernetesHandle(Strict):
    """The ``kubernetes:`` handle of a target: where its pods are and how to reach the cluster."""

    namespace: str = Field("default", description="the namespace of the target's pods")
    selector: str | None = Field(
        None, description="a label selector (app=api,tier!=canary) or kind/name: deployment/NAME, statefulset/NAME, "
                          "pod/NAME, node/NAME; omitted = every pod of the namespace")
    max_targets: int = Field(10, ge=1, le=10_000, description="plan refuses a selector that matches more pods "
                                                              "(or nodes) than this")
    context: str | None = Field(None, description="the kubeconfig context (default: its current context)")
    kubeconfig: str | None = Field(None, description="the kubeconfig file (default: $KUBECONFIG, else "
                                                     "~/.kube/config, else the in-cluster service account)")
    in_cluster: bool = Field(False, description="use the pod's service account (chaosrunner runs as a CronJob)")
    zone: str | None = Field(None, description="only pods on nodes of this zone (a network partition cuts them "
                                               "off from the others)")
    zone_label: str = Field("topology.kubernetes.io/zone", description="the node label that names the zone")
    toxiproxy: ToxiproxyHandle | None = Field(
        None, description="the Toxiproxy in front of the target's Service (deploy/toxiproxy.yaml): latency, loss, "
                          "error and bandwidth faults go through it")

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        if v is None or "${" in v:
            return v
        if "/" in v and "=" not in v:
            kind, _, name = v.partition("/")
            if kind.lower() not in KINDS or not name:
                raise ValueError(f"{v!r} is not kind/name; write e.g. deployment/envoy-control-plane "
                                 f"(kinds: {', '.join(sorted(set(KINDS)))})")
            return v
        if not all(_LABEL_TERM.match(t.strip()) for t in v.split(",")):
            raise ValueError(f"{v!r} is not a label selector; write e.g. app=api-server,tier!=canary")
        return v

    def workload(self) -> tuple[str, str] | None:
        """(Kind, name) when the selector names an object (deployment/x), else None."""
        if self.selector and "/" in self.selector and "=" not in self.selector:
            kind, _, name = self.selector.partition("/")
            return KINDS[kind.lower()], name
        return None


class PodKillFault(Fault):
    """Delete some of the target's pods; the revert waits for their replacements to be Ready."""

    type: Literal["pod-kill"]
    mode: Literal["one", "fixed", "percent", "all"] = Field("one", description="how many: one pod, `count` pods, "
                                                                              "`percent` of them, or all")
    count: int = Field(1, ge=1, le=10_000, description="mode fixed: how many pods")
    percent: Fraction | None = Field(None, description="mode percent: which share of the pods (rounded up)")
    grace_period: Duration | None = Field(None, description="the pods' termination grace period (default: "
                                                            "their own)")
    wait_ready: bool = Field(True, description="the revert waits until as many pods are Ready as before")
    ready_timeout: Timeout = Field(25.0, description="how long the replacements may take to be Ready (the run "
                                                     "gives a revert 30s)")

    @model_validator(mode="after")
    def _mode(self) -> PodKillFault:
        if self.mode == "percent" and self.percent is None:
            raise ValueError("mode percent needs percent: e.g. 30%")
        return self


class NodeDrainFault(Fault):
    """Cordon the nodes the target's pods run on and evict their pods (PodDisruptionBudgets respected)."""

    type: Literal["node-drain"]
    count: int = Field(1, ge=1, le=1000, description="how many of those nodes")
    eviction_timeout: Timeout = Field(60.0, description="how long an eviction a PodDisruptionBudget refuses is "
                                                        "retried before the fault fails")
    timeout: Timeout = Field(120.0, description="how long the drain may take (between 1ms and 1h)")


class ScaleFault(Fault):
    """Set the replicas of the target's Deployment or StatefulSet; the revert restores them."""

    type: Literal["scale"]
    replicas: int = Field(..., ge=0, le=100_000, description="the replicas while the fault lasts")


class RolloutRestartFault(Fault):
    """Restart the target's Deployment or StatefulSet (as kubectl rollout restart); the revert waits for the
    rollout to finish."""

    type: Literal["rollout-restart"]
    ready_timeout: Timeout = Field(25.0, description="how long the rollout may take to finish (the run gives a "
                                                     "revert 30s)")


__all__ = ["KubernetesHandle", "NodeDrainFault", "PodKillFault", "RolloutRestartFault", "ScaleFault"]
