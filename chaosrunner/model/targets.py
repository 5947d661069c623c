"""The targets inventory: where things are, kept apart from what an experiment does to them.

The same experiment runs against the embedded demo, docker-compose, Kubernetes or AWS by
swapping the inventory. Each target holds plain facts probes can reference (``url``, ``host``,
``port``, anything under ``vars``), or is a ``group`` of other targets, and the handles drivers
use to reach it: one key per handle, its value validated by the model the driver declares
(``toxiproxy: {api, proxy}``, ``process: {pidfile}``, a plugin's own). ``Target`` lists the
built-in handles; the inventory accepts every installed driver's (``chaosrunner.model.vocabulary``).
A handle model may define ``addresses()`` (the URLs or hosts it reaches); a handle without it
counts as reaching outside loopback, so its inventory must name its environment.
"""
from __future__ import annotations

import difflib
import ipaddress
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from chaosrunner.model.base import FieldError, Strict, Timeout, check_http_url, check_port
from chaosrunner.model.vocabulary import INSTALLED_TARGET


class ToxiproxyHandle(Strict):
    api: str = Field("http://127.0.0.1:8474", description="the Toxiproxy (or chaosrunner proxy) API URL")
    proxy: str = Field(..., description="the proxy's name on that server")

    @field_validator("api")
    @classmethod
    def _api_url(cls, v: str) -> str:
        return check_http_url(v, "a Toxiproxy API URL", "write e.g. http://127.0.0.1:8474")

    def addresses(self) -> list[str]:
        return [self.api]


class ProcessHandle(Strict):
    pidfile: str | None = None
    pid: int | None = Field(None, ge=1, le=2**22, description="a process id (Linux's pid_max is at most 4194304)")
    match: str | None = Field(None, description="a substring of the command line that finds the process")
    restart: str | list[str] | None = Field(
        None, description="command that starts it again (kill/restart faults); a first word `chaosrunner` runs "
                          "this chaosrunner (its own interpreter), whatever PATH says")
    restart_timeout: Timeout = Field(30.0, description="how long a killed process may take to be found running "
                                                       "again before its revert counts as failed (between 1ms and 1h)")
    cgroup: str | None = Field(None, description="cgroup v2 path; found from the pid when omitted")

    @model_validator(mode="after")
    def _one_way(self) -> ProcessHandle:
        if not (self.pidfile or self.pid or self.match):
            raise ValueError("a process handle needs pidfile:, pid: or match:")
        return self

    def addresses(self) -> list[str]:
        return []           # a process on this machine


class Target(Strict):
    """One target: facts, handles (every other key), or a group. The inventory's targets are of a
    subclass that adds the handles of installed plugin drivers."""

    FACTS: ClassVar[frozenset[str]] = frozenset({"url", "host", "port", "group", "description", "vars"})

    url: str | None = None
    host: str | None = None
    port: int | None = None
    toxiproxy: ToxiproxyHandle | None = None
    process: ProcessHandle | None = None
    group: list[str] | None = None
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)

    @field_validator("port")
    @classmethod
    def _port(cls, v: int | None) -> int | None:
        return None if v is None else check_port(v)

    @field_validator("url", "host")
    @classmethod
    def _address(cls, v: str | None, info: ValidationInfo) -> str | None:
        """Any scheme, but an address the safety gate can read (``http://[1]`` makes urlsplit raise)."""
        if v is None or "${" in v:
            return v
        try:
            _ = urlsplit(v if info.field_name == "url" or "//" in v else "//" + v).port
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a{' URL' if info.field_name == 'url' else ' host name'} ({exc}); "
                             f"write e.g. {'http://127.0.0.1:8080' if info.field_name == 'url' else '127.0.0.1'}"
                             ) from None
        return v

    def handles(self) -> dict[str, BaseModel]:
        """The handles this target carries, by key."""
        found = {k: getattr(self, k) for k in type(self).model_fields if k not in self.FACTS}
        return {k: v for k, v in found.items() if v is not None}

    def handle(self, key: str) -> BaseModel | None:
        """The handle under ``key`` (None when the target has none, or no such handle is installed)."""
        return getattr(self, key) if key in type(self).model_fields and key not in self.FACTS else None


BUILTIN_HANDLES: dict[str, type[BaseModel]] = {"toxiproxy": ToxiproxyHandle, "process": ProcessHandle}
"""The built-in drivers' handles (the Kubernetes and AWS drivers' ``kubernetes`` and ``aws`` handles come with
them, through the driver registry)."""


class Inventory(Strict):
    model_config = ConfigDict(defer_build=True)     # its schema is built on first use, with the installed handles

    environment: str = Field("local", description="name of the environment; 'production' needs --confirm")
    base_url: str | None = Field(None, description="relative probe URLs (/health) resolve against this")
    prometheus: str | None = Field(None, description="Prometheus server for metric probes")
    targets: dict[str, Annotated[Target, INSTALLED_TARGET]] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v, "a base URL", "write e.g. http://127.0.0.1:8080")

    @field_validator("prometheus")
    @classmethod
    def _prometheus_url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v, "a Prometheus server URL", "write e.g. http://127.0.0.1:9090")

    @model_validator(mode="after")
    def _groups_resolve(self) -> Inventory:
        for name, target in self.targets.items():
            for i, member in enumerate(target.group or []):
                if member not in self.targets:
                    near = difflib.get_close_matches(member, list(self.targets), n=1, cutoff=0.6)
                    raise FieldError(f"group {name!r} names {member!r}, which is not a target of this inventory",
                                     "targets", name, "group", i,
                                     hint=f"did you mean {near[0]!r}?" if near else
                                     "targets: " + ", ".join(self.targets))
        cycle = self._group_cycle()
        if cycle:
            raise FieldError(f"group {cycle[0]!r} contains itself: {' → '.join(cycle)}",
                             "targets", cycle[0], "group",
                             hint="a group lists targets or other groups, never one that leads back to it")
        return self

    def _group_cycle(self) -> list[str] | None:
        """A chain of groups that leads back to its start (depth-first, each target visited once), or None."""
        done: set[str] = set()
        trail: list[str] = []

        def visit(name: str) -> list[str] | None:
            trail.append(name)
            for member in self.targets[name].group or []:
                if member in trail:
                    return trail[trail.index(member):] + [member]
                if member not in done:
                    found = visit(member)
                    if found:
                        return found
            trail.pop()
            done.add(name)
            return None

        for name in self.targets:
            if name not in done:
                found = visit(name)
                if found:
                    return found
        return None

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
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:          # "http://[1]": not a host on this machine that we can tell
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def outside_loopback(inv: Inventory) -> list[str]:
    """Names of targets whose addresses are not on this machine's loopback.

    A target's addresses are its ``url``, its ``host`` and what each of its handles reaches
    (``addresses()``); a handle that does not say (Kubernetes, AWS) reaches beyond loopback.
    """
    out = []
    for name, t in inv.targets.items():
        urls: list[str | None] = [t.url, f"//{t.host}" if t.host else None]
        beyond = False
        for handle in t.handles().values():
            reach = getattr(handle, "addresses", None)
            if reach is None:
                beyond = True
            else:
                urls += list(reach())
        if beyond or not all(is_loopback_url(u) for u in urls if u):
            out.append(name)
    return out
