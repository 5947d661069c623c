"""Shared building blocks of the typed model: the strict base class and the unit types.

Every section of an experiment file is a ``Strict`` model: unknown keys are errors (the loader
turns them into file:line:column messages with a "did you mean"). Unit-bearing fields use the
annotated types below, so ``30s`` arrives in Python as ``30.0`` seconds and the JSON Schema
still tells editors that a string such as ``30s`` is expected. Each of those types is finite and
has a range (``Within``): a fault lasts more than 0s and at most 24h, a timeout 1ms to 1h, a
percentage 0% to 100%; a value outside it is refused with the range in the message.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from chaosrunner import units


class Strict(BaseModel):
    """Base of every model read from a file: no unknown keys, frozen, enums by value, no NaN or infinity
    in any number (``.nan`` would pass every comparison with a limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_enum_values=False,
                              allow_inf_nan=False)


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


SECOND, MINUTE, HOUR, DAY = 1.0, 60.0, 3600.0, 86400.0

_PATTERNS = {
    "duration": r"^\s*(\d+(\.\d+)?\s*(ms|us|s|m|h|d)\s*)+$",
    "rate": r"^\s*\d+(\.\d+)?\s*(/\s*(s|sec|m|min|h))?\s*$",
    "percentage": r"^\s*\d+(\.\d+)?\s*%\s*$",
}
_FORMS = {"duration": "a duration: 250ms, 30s, 5m, 1h (a bare number is seconds)",
          "rate": "a rate: 20/s, 600/m", "percentage": "a percentage: 80% or 0.8"}
_PARSERS: dict[str, Callable[[object], float]] = {
    "duration": units.parse_duration, "rate": units.parse_rate, "percentage": units.parse_fraction}


def _compact(kind: str, number: float) -> str:
    """A bound as a person writes it: 5ms, 24h, 7d, 100000/s, 100%."""
    if kind == "rate":
        return f"{number:g}/s"
    if kind == "percentage":
        return f"{number * 100:g}%"
    if number >= 2 * DAY and number % DAY == 0:
        return f"{number / DAY:g}d"
    for unit, size in (("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", 1e-3)):
        if number >= size and (number / size).is_integer():
            return f"{number / size:g}{unit}"
    return f"{number:g}s"


@dataclass(frozen=True)
class Within:
    """A unit-bearing field's type: parsed (finite, see ``chaosrunner.units``), then kept to a range.

    Used as ``Annotated[float, Within("duration", 0, DAY, "a fault's duration", low_open=True)]``:
    the error names the range and what is limited ("a fault's duration must be more than 0s and
    at most 24h"), and the JSON Schema carries the range in its description (and, for durations
    and rates, as the number form's bounds).
    """

    kind: str                   # "duration" (seconds), "rate" (per second) or "percentage" (a fraction 0..1)
    low: float
    high: float
    what: str                   # what the range limits, as the message says it
    low_open: bool = False      # above ``low``, not at it (a fault of 0s is no fault)

    def range_text(self) -> str:
        low, high = _compact(self.kind, self.low), _compact(self.kind, self.high)
        return f"more than {low} and at most {high}" if self.low_open else f"between {low} and {high}"

    def validate(self, value: Any) -> float:
        try:
            number = _PARSERS[self.kind](value)
        except ValueError as exc:       # unreadable, not finite, beyond the unit's own limits
            if isinstance(value, (list, dict)):
                raise                   # the loader's hint says: one value here, not a list
            raise FieldError(str(exc), hint=f"{self.what} must be {self.range_text()}") from None
        if not (self.low < number if self.low_open else self.low <= number) or number > self.high:
            written = value.strip()[:40] if isinstance(value, str) else _compact(self.kind, number)
            raise ValueError(f"{written} is out of range: {self.what} must be {self.range_text()}")
        return number

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        number: dict[str, Any] = {"type": "number"}
        if self.kind != "percentage":           # a bare number above 1 is read as a percent
            number["exclusiveMinimum" if self.low_open else "minimum"] = self.low
            number["maximum"] = self.high
        return {"anyOf": [{"type": "string", "pattern": _PATTERNS[self.kind]}, number],
                "description": f"{_FORMS[self.kind]}; {self.range_text()}"}


Duration = Annotated[float, Within("duration", 0.0, units.MAX_DURATION_S, "a duration")]
"""Seconds, written in files as ``250ms``, ``30s``, ``5m``, ``1h``: finite, between 0s and 7 days.
Fields with a narrower sense of "sensible" use the types below or their own ``Within``."""

FaultDuration = Annotated[float, Within("duration", 0.0, DAY, "a fault's duration", low_open=True)]
"""How long a fault lasts: more than 0s (a fault of 0s would be injected and reverted at once), at most 24h."""

Pause = Annotated[float, Within("duration", 0.0, DAY, "a pause")]
"""A wait between steps: between 0s and 24h."""

Timeout = Annotated[float, Within("duration", 1e-3, HOUR, "a timeout")]
"""How long one call may take: between 1ms and 1h."""

Window = Annotated[float, Within("duration", 0.0, HOUR, "a window", low_open=True)]
"""A sliding window over recent samples or statistics: more than 0s, at most 1h."""

Rate = Annotated[float, Within("rate", 0.0, 100_000.0, "a rate", low_open=True)]
"""Events per second, written as ``20/s`` or ``600/m``: more than 0/s, at most 100000/s."""

Fraction = Annotated[float, Within("percentage", 0.0, 1.0, "a percentage")]
"""A fraction 0..1, written as ``80%`` or ``0.8``: between 0% and 100%."""
