"""Shared building blocks of the typed model: the strict base class and the unit types.

Every section of an experiment file is a ``Strict`` model: unknown keys are errors (the loader
turns them into file:line:column messages with a "did you mean"). Unit-bearing fields use the
annotated types below, so ``30s`` arrives in Python as ``30.0`` seconds and the JSON Schema
still tells editors that a string such as ``30s`` is expected.
"""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from chaosrunner import units


class Strict(BaseModel):
    """Base of every model read from a file: no unknown keys, frozen, enums by value."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_enum_values=False)


class FieldError(ValueError):
    """A model validator's complaint about one field below the model, with a fix.

    pydantic locates a model validator's error at the model itself; the loader appends ``path``
    (keys and indexes below the model) so the message points at the field's own line.
    """

    def __init__(self, message: str, *path: Any, hint: str | None = None):
        super().__init__(message)
        self.path = path
        self.hint = hint


def check_http_url(value: str, what: str = "an http(s) URL", fix: str = "write http://host:port/path") -> str:
    """An absolute http(s) URL with a host (``${...}`` references are checked once resolved)."""
    if "${" in value:
        return value
    try:
        parts = urlsplit(value)
        _ = parts.port          # urlsplit parses the port lazily: a bad one raises only here
    except ValueError as exc:   # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        raise ValueError(f"{value!r} is not {what} ({exc}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not {what}; {fix}")
    return value


def check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"{value} is out of range; write a TCP port between 1 and 65535")
    return value


def _wrap(parser: Any) -> Any:
    def validate(value: Any) -> Any:
        return parser(value)

    return validate


Duration = Annotated[
    float,
    BeforeValidator(_wrap(units.parse_duration)),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|us|s|m|h|d)\s*)+$"}, {"type": "number"}],
         "description": "a duration: 250ms, 30s, 5m, 1h (a bare number is seconds)"}
    ),
]
"""Seconds, written in files as ``250ms``, ``30s``, ``5m``, ``1h``."""

Rate = Annotated[
    float,
    BeforeValidator(_wrap(units.parse_rate)),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(/\s*(s|sec|m|min|h))?\s*$"},
                              {"type": "number"}], "description": "a rate: 20/s, 600/m"}),
]
"""Events per second, written as ``20/s`` or ``600/m``."""

Fraction = Annotated[
    float,
    BeforeValidator(_wrap(units.parse_fraction)),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"}, {"type": "number"}],
                    "description": "a percentage: 80% or 0.8"}),
]
"""A fraction 0..1, written as ``80%`` or ``0.8``."""
