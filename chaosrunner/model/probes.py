"""Typed models of steady-state probes (``steady_state: - probe: {...}``).

Built-in here: ``http``, ``tcp``, ``command`` and ``provider`` (a Chaos Toolkit probe with a
tolerance). ``metric`` and ``role`` live with their implementations (``chaosrunner.probes``)
and are joined into the ``ProbeSpec`` union in ``chaosrunner.model.experiment``.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from chaosrunner.model.base import Duration, Strict, check_http_url, check_port


class _ProbeCommon(Strict):
    name: str | None = Field(None, description="a short name; derived from the probe when omitted")
    timeout: Duration = Field(2.0, description="how long one sample may take before it counts as failed")


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
    module: str | None = None
    func: str | None = None
    path: str | None = None
    url: str | None = None
    method: str | None = None
    arguments: Any = None
    timeout: float | None = None
    headers: dict[str, str] | None = None
    expected_status: int | None = None
    secrets: list[str] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> CtkProvider:
        need = {"python": ("module", "func"), "process": ("path",), "http": ("url",)}[self.type]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} provider needs {', '.join(missing)}")
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
    window: Duration = Field(10.0, description="load source: the sliding window the metric is computed over")
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
        return float(self.threshold)


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
    timeout: Duration = Field(2.0, description="how long one sample may take before it counts as failed")

    @model_validator(mode="after")
    def _one_source(self) -> RoleProbeSpec:
        given = [k for k in ("http", "sql", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a role probe asks exactly one of http:, sql: or command:"
                             + (f" (this one has {', '.join(given)})" if given else ""))
        return self
