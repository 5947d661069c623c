"""The ``load:`` section of an experiment or game day: what traffic Locust drives during the run.

Three ways to say what the traffic is:

- ``locustfile: path`` — any Locust user classes, path relative to the experiment file;
- ``http: {host, paths, weights, method}`` — a built-in profile (FastHttpUser, one request per
  task, paths chosen by weight); no locustfile needed;
- ``master: host:port`` — the web UI of an existing (distributed) Locust master. chaosrunner
  only *observes* it: it reads the master's statistics once a second; it does not start, stop
  or reshape that load (its users and workers belong to whoever runs that Locust).

Load is shaped by ``users`` + ``spawn_rate``, optionally ``rate`` (a fixed total of task
iterations per second, through ``constant_throughput(rate / users)`` on every user class),
or ``shape`` stages (a generated ``LoadTestShape``). ``workers: N`` runs a Locust master
with N local worker processes (``locust --processes N``) to use more than one core.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from chaosrunner.errors import LoadError
from chaosrunner.model.base import DAY, Rate, Strict, Within


class HttpProfile(Strict):
    """The built-in profile: GET (or ``method``) requests over ``paths``, chosen by ``weights``."""

    host: str | None = Field(None, description="base URL, e.g. http://127.0.0.1:8080 (else load.host, else "
                                               "the inventory's base_url)")
    paths: list[str] = Field(..., min_length=1, description="request paths, e.g. [/health, /configs]")
    weights: list[float] | None = Field(None, description="relative weight of each path (default: equal)")
    method: str = Field("GET", description="HTTP method of every request")

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"path {p!r} must start with '/' (it is appended to the host)")
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        method = v.upper()
        if method not in {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}:
            raise ValueError(f"{v!r} is not an HTTP method chaosrunner's profile can send")
        return method

    @model_validator(mode="after")
    def _weights(self) -> HttpProfile:
        if self.weights is not None:
            if len(self.weights) != len(self.paths):
                raise ValueError(f"weights has {len(self.weights)} entries but paths has {len(self.paths)}; "
                                 "give one weight per path")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        return self


class ShapeStage(Strict):
    """One stage of a load shape: hold ``users`` (reached at ``spawn_rate``/s) for ``duration``."""

    duration: Annotated[float, Within("duration", 0.0, DAY, "a load stage's duration", low_open=True)] = Field(
        ..., description="how long the stage lasts (more than 0s, at most 24h)")
    users: int = Field(..., ge=0)
    spawn_rate: float = Field(..., gt=0, le=100_000, description="users started per second (at most 100000)")


def _check_base_url(value: str, what: str) -> str:
    if "${" in value:          # resolved by the runner's reference resolution before use
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {value!r} is not a base URL; write e.g. http://127.0.0.1:8080")
    return value


class LoadSpec(Strict):
    locustfile: str | None = Field(None, description="a Locust file, relative to the experiment file")
    http: HttpProfile | None = Field(None, description="built-in HTTP profile (no locustfile needed)")
    master: str | None = Field(None, description="host:port of an existing Locust master's web UI, "
                                                 "observed (not driven) by chaosrunner")
    host: str | None = Field(None, description="base URL the users target (Locust --host)")
    users: int | None = Field(None, ge=0, description="concurrent users (not with shape)")
    spawn_rate: float = Field(10.0, gt=0, le=100_000, description="users started per second (at most 100000)")
    rate: Rate | None = Field(None, description="fixed total task iterations per second, e.g. 200/s "
                                                "(more than 0/s, at most 100000/s)")
    shape: list[ShapeStage] | None = Field(None, min_length=1, description="load stages, run one after "
                                                                           "the other; the last one holds")
    run_time: Annotated[float, Within("duration", 0.0, 7 * DAY, "load.run_time", low_open=True)] | None = Field(
        None, description="how long load runs (more than 0s, at most 7d; default: the experiment's span)")
    workers: int = Field(0, ge=0, le=1024, description="0 = one Locust process; N = a Locust master and N local "
                                                        "workers (at most 1024)")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return None if v is None else _check_base_url(v, "load.host")

    @field_validator("master")
    @classmethod
    def _master(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if v.startswith(("http://", "https://")):
            return _check_base_url(v, "load.master")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"load.master {v!r} must be host:port of a Locust master's web UI, e.g. 10.0.0.5:8089")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> LoadSpec:
        sources = [k for k in ("locustfile", "http", "master") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError("load needs exactly one of locustfile:, http: or master:"
                             + (f" (this one has {' and '.join(sources)})" if sources else ""))
        if self.master is not None:
            extra = [k for k in ("rate", "shape", "users") if getattr(self, k) is not None]
            if self.workers:
                extra.append("workers")
            if extra:
                raise ValueError(f"load.master observes an existing Locust; {', '.join(extra)} cannot be set "
                                 "from here (configure that Locust itself)")
            return self
        if self.shape is None and self.users is None:
            raise ValueError("load needs users: (or shape: stages)")
        if self.shape is not None and self.users is not None:
            raise ValueError("load has both users: and shape:; the shape's stages set the users")
        if self.rate is not None:
            if self.shape is not None:
                raise ValueError("rate: needs a fixed user count; it cannot be combined with shape:")
            if not self.users:
                raise ValueError(f"rate: {self.rate:g}/s with users: 0 cannot send anything; "
                                 "set users: to at least 1 (each user sends rate/users per second)")
            if self.rate <= 0:
                raise ValueError("rate: must be positive")
        if self.http is not None and self.http.host is not None:
            _check_base_url(self.http.host, "load.http.host")
        return self

    # -- derived -----------------------------------------------------------------------------
    @property
    def target_host(self) -> str | None:
        """The base URL the users hit, when the load section says it: ``http.host``, else ``host``.

        The inventory's ``base_url`` is only a default, applied by the runner where neither is
        set (and, for a locustfile, only to user classes without a ``host`` of their own).
        """
        if self.http is not None and self.http.host is not None:
            return self.http.host
        return self.host

    @property
    def host_field(self) -> tuple[str, ...]:
        """Where ``target_host`` comes from in the load section (for error locations)."""
        return ("http", "host") if self.http is not None and self.http.host is not None else ("host",)

    def resolve_locustfile(self, base_dir: str | Path) -> Path | None:
        """The locustfile's absolute path (relative paths are relative to the experiment file)."""
        if self.locustfile is None:
            return None
        path = Path(self.locustfile).expanduser()
        return path if path.is_absolute() else (Path(base_dir) / path).resolve()


class LoadInputError(LoadError):
    """A load setup that cannot work, found before anything is injected (exit 2).

    ``field`` is the path inside the ``load:`` section it is about (``("locustfile",)``,
    ``("http", "host")``, ``()`` for the section itself), so the caller can point at the line.
    """

    def __init__(self, message: str, field: tuple[str, ...] = (), hint: str | None = None):
        self.message, self.field, self.hint = message, field, hint
        super().__init__(message + (f"\n  hint: {hint}" if hint else ""))


def parse_load_spec(data: Any) -> LoadSpec:
    """Build a ``LoadSpec`` from a raw mapping, turning validation errors into one ``LoadError``."""
    if isinstance(data, LoadSpec):
        return data
    try:
        return LoadSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"load{'.' + where if where else ''}: {msg}")
        raise LoadError("invalid load section:\n  " + "\n  ".join(lines)) from None
