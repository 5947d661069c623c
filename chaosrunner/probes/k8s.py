"""The ``k8s`` probe (``chaosrunner.model.k8s.K8sProbeSpec``): replica counts of a workload, Ready pods
of a selector, recent events of a kind, read through the same connection as the Kubernetes driver's
faults (the target's ``kubernetes:`` handle). One sample is a few GETs in a worker thread."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from chaosrunner.drivers.kubernetes.cluster import Cluster, Connection, is_ready, select
from chaosrunner.drivers.kubernetes.model import KubernetesHandle
from chaosrunner.errors import ChaosRunnerError, ProbeError
from chaosrunner.probes.base import Outcome, ProbeContext, register_probe


class K8sProbe:
    def __init__(self, spec: Any, name: str, handle: KubernetesHandle):
        self.spec, self.name, self.timeout, self.handle = spec, name, spec.timeout, handle
        self._cluster: Cluster | None = None

    async def check(self) -> Outcome:
        return await asyncio.to_thread(self._sample)

    async def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()

    def _sample(self) -> Outcome:
        try:
            if self._cluster is None:
                self._cluster = Cluster(Connection.of(self.handle), self.timeout)
            value, low = self._count(self._cluster)
        except ChaosRunnerError as exc:
            return Outcome(False, error=str(exc))
        high = self.spec.max if self.spec.max is not None else (0 if self.spec.check == "events" else None)
        ok = (low is None or value >= low) and (high is None or value <= high)
        bounds = " and ".join(x for x in (f">= {low}" if low is not None else "",
                                          f"<= {high}" if high is not None else "") if x)
        return Outcome(ok, value=value, error=None if ok else f"{self.spec.check} is {value}, not {bounds}")

    def _count(self, cluster: Cluster) -> tuple[int, int | None]:
        spec, h = self.spec, self.handle
        sel = select(cluster, h)
        if spec.check == "ready_pods":
            return sum(1 for p in sel.pods if is_ready(p)), (spec.min if spec.min is not None else 1)
        if spec.check == "events":
            since = datetime.now(UTC) - timedelta(seconds=spec.within)
            names = set(sel.pod_names()) | ({sel.workload[1]} if sel.workload else set())
            prefix = f"{sel.workload[1]}-" if sel.workload else None     # its pods, those gone included
            events = cluster.call(f"list events in {h.namespace}", cluster.core.list_namespaced_event, h.namespace,
                                  field_selector=f"reason={spec.reason}").items
            recent = [e for e in events
                      if (e.involved_object.name in names or (prefix and e.involved_object.name.startswith(prefix)))
                      and (e.last_timestamp or e.event_time or e.metadata.creation_timestamp or since) >= since]
            return sum(e.count or 1 for e in recent), None
        if sel.workload is None:
            raise ProbeError(f"check {spec.check} needs a workload: the kubernetes handle of {spec.target!r} has no "
                             "selector deployment/NAME or statefulset/NAME")
        kind, wname = sel.workload
        read = cluster.apps.read_namespaced_deployment if kind == "Deployment" \
            else cluster.apps.read_namespaced_stateful_set
        obj = cluster.call(f"read {kind.lower()} {h.namespace}/{wname}", read, wname, h.namespace)
        have = obj.status.available_replicas if spec.check == "available_replicas" else obj.status.ready_replicas
        return int(have or 0), (spec.min if spec.min is not None else int(obj.spec.replicas or 0))


@register_probe("k8s")
def _k8s_probe(spec: Any, name: str, ctx: ProbeContext) -> K8sProbe:
    inv = ctx.inventory
    target = inv.targets.get(spec.target) if inv is not None else None
    handle = target.handle("kubernetes") if target is not None else None
    if handle is None:
        raise ProbeError(f"probe {name!r}: target {spec.target!r} has no kubernetes handle in the inventory")
    if not isinstance(handle, KubernetesHandle):
        handle = KubernetesHandle.model_validate(handle.model_dump())
    return K8sProbe(spec, name, handle)
