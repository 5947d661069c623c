"""Shared building blocks of the typed model: the strict base class and the unit types.

Every section of an experiment file is a ``Strict`` model: unknown keys are errors (the loader
turns them into file:line:column messages with a "did you mean"). Unit-bearing fields use the
annotated types below, so ``30s`` arrives in Python as ``30.0`` seconds and the JSON Schema
still tells editors that a string such as ``30s`` is expected.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from chaosrunner import units


class Strict(BaseModel):
    """Base of every model read from a file: no unknown keys, frozen, enums by value."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_enum_values=False)


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
