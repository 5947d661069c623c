"""The ``writer:`` section: where the data-integrity writer writes, how fast, and what it leaves behind."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from chaosrunner.model.base import FieldError, Rate, Strict, Timeout

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class WriterSpec(Strict):
    """Sequenced writes at a fixed rate, read back after recovery to measure data loss (RPO)."""

    type: Literal["http", "postgres", "redis"]
    url: str | None = Field(None, description="http: base URL (PUT <url>/<key>); redis: redis://host:port/db")
    dsn: str | None = Field(None, description="postgres: libpq connection string; several hosts with "
                                              "target_session_attrs=read-write follow a failover")
    rate: Rate = Field(20.0, description="writes per second, issued on fixed deadlines (more than 0/s, at most 1000/s)")
    timeout: Timeout = Field(1.0, description="a write not acknowledged within this counts as failed "
                                              "(between 1ms and 1h)")
    cleanup: bool = Field(False, description="delete this run's keys/rows after the read-back")
    table: str = Field("chaosrunner_writes", description="postgres: the table the writer creates and fills")
    prefix: str = Field("chaosrunner", description="http/redis: key prefix (the run id follows it)")
    readback_timeout: Timeout = Field(30.0, description="how long the read-back keeps retrying an unreachable store "
                                                        "(between 1ms and 1h)")

    @model_validator(mode="after")
    def _target(self) -> WriterSpec:
        if self.type == "postgres":
            if not (self.dsn or self.url):
                raise ValueError("a postgres writer needs dsn: (a libpq connection string)")
            if not _IDENT.match(self.table):
                raise ValueError(f"table {self.table!r} is not a plain SQL identifier (letters, digits, _)")
        elif not self.url:
            raise ValueError(f"a {self.type} writer needs url:")
        if self.type == "redis" and self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"{self.url!r} is not a Redis URL; write redis://host:port/0")
        if self.type == "http" and self.url and not (self.url.startswith(("http://", "https://")) or "${" in self.url):
            raise ValueError(f"{self.url!r} is not an http(s) URL")
        if self.rate <= 0 or self.rate > 1000:
            raise FieldError(f"rate: {self.rate:g}/s is out of range: the writer's rate must be more than 0/s "
                             "and at most 1000/s", "rate")
        return self

    @property
    def target(self) -> str:
        """Where the writes go (postgres: the dsn; never printed, it may hold a password)."""
        return (self.dsn or self.url or "") if self.type == "postgres" else (self.url or "")
