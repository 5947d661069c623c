"""The targets inventory: where things are, kept apart from what an experiment does to them.

The same experiment runs against the embedded demo, docker-compose, Kubernetes or AWS by
swapping the inventory. Each target lists the handles drivers can use (``toxiproxy``,
``process``, ``kubernetes``, ``aws``), plain facts probes can reference (``url``, ``host``,
``port``, anything under ``vars``), or is a ``group`` of other targets.
"""
from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from chaosrunner.model.base import Strict


class ToxiproxyHandle(Strict):
    api: str = Field("http://127.0.0.1:8474", description="the Toxiproxy (or chaosrunner proxy) API URL")
    proxy: str = Field(..., description="the proxy's name on that server")


class ProcessHandle(Strict):
    pidfile: str | None = None
    pid: int | None = None
    match: str | None = Field(None, description="a substring of the command line that finds the process")
    restart: str | list[str] | None = Field(None, description="command that starts it again (kill/restart faults)")
    cgroup: str | None = Field(None, description="cgroup v2 path; found from the pid when omitted")

    @model_validator(mode="after")
    def _one_way(self) -> ProcessHandle:
        if not (self.pidfile or self.pid or self.match):
            raise ValueError("a process handle needs pidfile:, pid: or match:")
        return self


class KubernetesHandle(Strict):
    namespace: str = "default"
    selector: str | None = None
    name: str | None = None
    context: str | None = None


class AwsHandle(Strict):
    region: str | None = None
    instance_ids: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    db_cluster: str | None = None
    endpoint_url: str | None = None


class Target(Strict):
    url: str | None = None
    host: str | None = None
    port: int | None = None
    toxiproxy: ToxiproxyHandle | None = None
    process: ProcessHandle | None = None
    kubernetes: KubernetesHandle | None = None
    aws: AwsHandle | None = None
    group: list[str] | None = None
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)

    def handles(self) -> list[str]:
        return [h for h in ("toxiproxy", "process", "kubernetes", "aws") if getattr(self, h) is not None]


class Inventory(Strict):
    environment: str = Field("local", description="name of the environment; 'production' needs --confirm")
    base_url: str | None = Field(None, description="relative probe URLs (/health) resolve against this")
    prometheus: str | None = Field(None, description="Prometheus server for metric probes")
    targets: dict[str, Target] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _groups_resolve(self) -> Inventory:
        for name, target in self.targets.items():
            for member in target.group or []:
                if member not in self.targets:
                    raise ValueError(f"group {name!r} names {member!r}, which is not a target of this inventory")
        return self

    def members(self, name: str, _seen: frozenset[str] = frozenset()) -> list[str]:
        """The concrete targets a name stands for (a group expands to its members, recursively)."""
        target = self.targets[name]
        if not target.group:
            return [name]
        if name in _seen:
            raise ValueError(f"group {name!r} contains itself")
        out: list[str] = []
        for member in target.group:
            for m in self.members(member, _seen | {name}):
                if m not in out:
                    out.append(m)
        return out


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return True
    host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def outside_loopback(inv: Inventory) -> list[str]:
    """Names of targets whose addresses are not on this machine's loopback."""
    out = []
    for name, t in inv.targets.items():
        urls = [t.url, t.toxiproxy.api if t.toxiproxy else None, f"//{t.host}" if t.host else None]
        if t.kubernetes or t.aws or not all(is_loopback_url(u) for u in urls if u):
            out.append(name)
    return out
