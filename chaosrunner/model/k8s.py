"""Typed model of the Kubernetes probe (``probe: {type: k8s, ...}``).

It names a target of the inventory whose ``kubernetes:`` handle (the Kubernetes driver's) says
the cluster, the namespace and the selector. The implementation is in
``chaosrunner.probes.k8s`` (the kubernetes client, imported when a run builds it).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from chaosrunner.model.base import Duration, Timeout
from chaosrunner.model.probes import _ProbeCommon


class K8sProbeSpec(_ProbeCommon):
    """One Kubernetes check on a target's ``kubernetes:`` handle, healthy when:

    - ``available_replicas`` / ``ready_replicas``: the Deployment or StatefulSet the selector names
      (deployment/NAME) has at least ``min`` of them (default: its spec.replicas);
    - ``ready_pods``: at least ``min`` (default 1) pods of the selector are Ready;
    - ``events``: at most ``max`` (default 0) events with reason ``reason`` (BackOff, Killing,
      FailedScheduling, ...) about the selector's pods or workload happened in the last ``within``.

    The value is the count; ``max`` also bounds the replica and pod counts when given.
    """

    type: Literal["k8s"]
    target: str = Field(..., description="the inventory target whose kubernetes handle the check reads")
    check: Literal["available_replicas", "ready_replicas", "ready_pods", "events"]
    min: int | None = Field(None, ge=0, le=100_000, description="healthy from this count (default: replicas: the "
                                                                "workload's spec.replicas; ready_pods: 1)")
    max: int | None = Field(None, ge=0, le=100_000, description="healthy up to this count (events: default 0)")
    reason: str | None = Field(None, description="events: the reason of the events counted (e.g. BackOff)")
    within: Duration = Field(300.0, description="events: how far back they count (default 5m)")
    timeout: Timeout = Field(5.0, description="how long one sample may take before it counts as failed "
                                              "(between 1ms and 1h; default 5s)")

    @model_validator(mode="after")
    def _coherent(self) -> K8sProbeSpec:
        if self.check == "events" and not self.reason:
            raise ValueError("check: events needs reason: the kind of event counted, e.g. BackOff")
        if self.check != "events" and self.reason is not None:
            raise ValueError("reason: is for check: events")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is more than max: {self.max}")
        return self
