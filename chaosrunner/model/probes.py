"""Typed models of steady-state probes (``steady_state: - probe: {...}``).

Built-in here: ``http``, ``tcp``, ``command`` and ``provider`` (a Chaos Toolkit probe with a
tolerance). ``metric`` and ``role`` live with their implementations (``chaosrunner.probes``)
and are joined into the ``ProbeSpec`` union in ``chaosrunner.model.experiment``.
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from chaosrunner.model.base import FieldError, Strict, Timeout, Window, check_http_url, check_port


class _ProbeCommon(Strict):
    name: str | None = Field(None, description="a short name; derived from the probe when omitted")
    timeout: Timeout = Field(2.0, description="how long one sample may take before it counts as failed "
                                              "(between 1ms and 1h)")


def check_url(value: str) -> str:
    """A probe URL must be absolute http(s), relative to the inventory's base_url, or a ${ref}."""
    if value.startswith("/"):
        return value
    return check_http_url(value, "a URL chaosrunner can probe",
                          "write http://host:port/path, a path such as /health (resolved against the "
                          "inventory's base_url), or ${target.url}/path")


class HttpProbeSpec(_ProbeCommon):
    type: Literal["http"]
    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE"] = "GET"
    expected_status: int | list[int] = 200
    contains: str | None = Field(None, description="the body must contain this text")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None

    _url = field_validator("url")(classmethod(lambda cls, v: check_url(v)))

    @field_validator("expected_status")
    @classmethod
    def _status(cls, v: int | list[int]) -> int | list[int]:
        for code in [v] if isinstance(v, int) else v:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code (100-599)")
        return v


class TcpProbeSpec(_ProbeCommon):
    type: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int | str = Field(..., description="port number, or a ${target.port} reference")
    target: str | None = None

    @field_validator("port")
    @classmethod
    def _port(cls, v: int | str) -> int | str:
        if isinstance(v, int):
            return check_port(v)
        if "${" not in v:
            if not v.strip().isdigit():
                raise ValueError(f"port {v!r} is not a number; write e.g. port: 8080 or port: ${{web.port}}")
            check_port(int(v))
        return v


class CommandProbeSpec(_ProbeCommon):
    type: Literal["command"]
    command: str | list[str]
    expected_exit: int = 0
    contains: str | None = None


class CtkProvider(Strict):
    """A Chaos Toolkit provider, exactly as in a Chaos Toolkit experiment."""

    type: Literal["python", "process", "http"]
    module: str | None = Field(None, pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$",
                               description="python: the module's dotted name")
    func: str | None = Field(None, pattern=r"^[A-Za-z_]\w*$", description="python: the function's name")
    path: str | None = Field(None, min_length=1, description="process: the executable")
    url: str | None = None
    method: str | None = None
    arguments: Any = Field(None, description="python, http: a mapping; process: a string, list or mapping")
    timeout: float | None = Field(None, gt=0, le=3600, description="seconds (more than 0, at most 3600)")
    headers: dict[str, str] | None = None
    expected_status: int | None = None
    secrets: list[str] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> CtkProvider:
        need = {"python": ("module", "func"), "process": ("path",), "http": ("url",)}[self.type]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} provider needs {', '.join(missing)}")
        allowed = (dict, str, list) if self.type == "process" else (dict,)
        if self.arguments is not None and not isinstance(self.arguments, allowed):
            raise FieldError(f"arguments: a {self.type} provider's arguments are "
                             + ("a string, a list or a mapping" if self.type == "process" else "a mapping"),
                             "arguments", hint="write arguments: {name: value, ...}")
        if self.type == "http" and self.url is not None:
            check_http_url(self.url, "an http(s) URL", "write e.g. http://127.0.0.1:8080/path")
        return self

    def to_activity(self, name: str, kind: str) -> dict[str, Any]:
        provider = {k: v for k, v in self.model_dump().items() if v is not None}
        return {"type": kind, "name": name, "provider": provider}


class ProviderProbeSpec(_ProbeCommon):
    type: Literal["provider"]
    provider: CtkProvider
    tolerance: Any = Field(None, description="a Chaos Toolkit tolerance; None accepts any value that did not raise")


class MetricProbeSpec(_ProbeCommon):
    """A golden-signal check: from the run's load statistics, or a PromQL query.

    Without ``source`` (as in the seed), the run's load statistics are read when the run has
    load, else the inventory's ``prometheus`` server. ``name`` is the metric for the load source
    (``p50_latency``, ``p95_latency``, ``p99_latency``, ``error_rate``, ``rps``); the comparison
    defaults to "below the threshold" for latencies and error rates, "above" for ``rps``.
    """

    type: Literal["metric"]
    name: str | None = None
    source: Literal["load", "prometheus"] | None = None
    threshold: Any = Field(..., description="500ms for latencies, 1% for error_rate, a number for rps or PromQL")
    operator: Literal["<", "<=", ">", ">="] | None = None
    window: Window = Field(10.0, description="load source: the sliding window the metric is computed over "
                                             "(more than 0s, at most 1h)")
    query: str | None = Field(None, description="prometheus source: the PromQL expression")
    prometheus: str | None = Field(None, description="prometheus source: server URL (else the inventory's)")

    @field_validator("prometheus")
    @classmethod
    def _prometheus_url(cls, v: str | None) -> str | None:
        return None if v is None else check_http_url(v, "a Prometheus server URL", "write e.g. http://127.0.0.1:9090")

    @model_validator(mode="after")
    def _coherent(self) -> MetricProbeSpec:
        if self.source == "prometheus" and not self.query:
            raise ValueError("a prometheus metric probe needs query: <PromQL>")
        if self.source != "prometheus" and not self.query and not self.name:
            raise ValueError("a metric probe needs name: (p99_latency, error_rate, rps, ...) or query:")
        if not (isinstance(self.threshold, str) and "${" in self.threshold):     # a reference: checked resolved
            try:
                self.threshold_value()
            except ValueError as exc:
                raise FieldError(f"threshold: {exc}", "threshold",
                                 hint="a latency threshold is a duration (500ms), an error rate a percentage "
                                      "(1%), any other metric a finite number") from None
        return self

    def comparison(self) -> str:
        if self.operator:
            return self.operator
        return ">" if (self.name or "").lower() in ("rps", "throughput") else "<"

    def threshold_value(self) -> float:
        """The threshold as a number: seconds for latencies, a fraction for rates."""
        from chaosrunner import units

        n = (self.name or "").lower()
        if "latency" in n or n.startswith("p9") or n.startswith("p5"):
            return units.parse_duration(self.threshold)
        if "error" in n or isinstance(self.threshold, str) and self.threshold.strip().endswith("%"):
            return units.parse_fraction(self.threshold)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float, str)):
            raise ValueError(f"{type(self.threshold).__name__} is not a number; write e.g. threshold: 100")
        try:
            value = float(self.threshold)
        except (ValueError, OverflowError):
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"{units.quote(self.threshold)} is not a finite number; write e.g. threshold: 100")
        return value


class HttpRoleSource(Strict):
    url: str = Field(..., description="GET this URL; it answers with the primary's identity")
    field: str | None = Field(None, description="JSON field (dotted path) holding the primary's name; "
                                                "the whole body when omitted")


class SqlRoleSource(Strict):
    nodes: dict[str, str] = Field(..., min_length=1,
                                  description="node name → libpq connection string; asked pg_is_in_recovery()")


class RoleProbeSpec(Strict):
    """Which node is primary, from an HTTP endpoint, SQL on each node, or a command."""

    type: Literal["role"]
    name: str | None = Field(None, description="a short name; objectives.failover.probe refers to it")
    http: HttpRoleSource | None = None
    sql: SqlRoleSource | None = None
    command: str | list[str] | None = Field(None, description="a command printing the primary's name")
    timeout: Timeout = Field(2.0, description="how long one sample may take before it counts as failed "
                                              "(between 1ms and 1h)")

    @model_validator(mode="after")
    def _one_source(self) -> RoleProbeSpec:
        given = [k for k in ("http", "sql", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a role probe asks exactly one of http:, sql: or command:"
                             + (f" (this one has {', '.join(given)})" if given else ""))
        return self
