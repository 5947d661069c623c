"""Parsing of the units experiment files speak: durations, rates, percentages and byte sizes.

Durations are strings such as ``250ms``, ``30s``, ``5m``, ``1h`` or ``1m30s`` (a bare number
means seconds); rates are ``20/s`` or ``600/m``; percentages ``80%`` (or a fraction 0..1).
Each parser raises ``ValueError`` with a message fit to show the user (the loader adds the
file and line). Every value they return is finite: ``.nan``, ``.inf``, ``"nan"`` and numbers too
large for a float are refused here, once for every field (a field's own range is checked by
its type in ``chaosrunner.model.base``).
"""
from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|us|µs|s|m|h|d)")
_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# A week is the longest a single fault window may sensibly last; anything longer is a typo.
MAX_DURATION_S = 7 * 86400.0
_DURATION_EXAMPLE = "250ms, 30s, 5m or 1h"


def quote(value: object) -> str:
    """The value as a message quotes it: short (a 5,000-digit number is not repeated whole)."""
    try:
        text = repr(value)
    except ValueError:                  # an int beyond sys.get_int_max_str_digits()
        return "a number too large to write"
    return text if len(text) <= 40 else text[:37] + "..."


def _as_float(value: int | float) -> float:
    """A YAML number as a float; an integer too large for one is infinite (refused by the caller)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _duration_parts(text: str, value: str) -> float:
    """Seconds of ``1m30s``: one or more number-unit parts, nothing else."""
    pos, seconds = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"cannot read {quote(value)} as a duration; write e.g. {_DURATION_EXAMPLE}")
    return seconds


def parse_duration(value: object) -> float:
    """Return seconds for ``250ms``, ``30s``, ``5m``, ``1h``, ``1m30s`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = _as_float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text:
            raise ValueError(f"empty duration; write e.g. {_DURATION_EXAMPLE}")
        if text.startswith("-"):
            raise ValueError(f"negative duration {quote(value)}; durations must be positive")
        try:
            seconds = float(text)          # a bare number of seconds ("nan" and "inf" are refused below)
        except ValueError:
            seconds = _duration_parts(text, value)
    else:
        raise ValueError(f"expected a duration such as 30s, got {type(value).__name__}")
    if not math.isfinite(seconds):
        raise ValueError(f"{quote(value)} is not a finite duration; write e.g. {_DURATION_EXAMPLE}")
    if seconds < 0:
        raise ValueError(f"negative duration {quote(value)}; durations must be positive")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {quote(value)} is longer than 7 days; is a unit wrong?")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Render seconds the way a person reads them: 250ms, 4.2s, 2m05s, 1h02m."""
    if seconds is None:
        return "—"
    if seconds == float("inf"):
        return "∞"
    if math.isnan(seconds):             # never from a file (the parsers refuse it); from arithmetic on one
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{secs:02.0f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def parse_rate(value: object) -> float:
    """Return events per second for ``20/s``, ``600/m``, ``3600/h`` or a plain number (per second)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a rate such as 20/s, got {value!r}")
    if isinstance(value, (int, float)):
        rate = _as_float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h))?\s*", value.lower())
        if not match:
            raise ValueError(f"cannot read {quote(value)} as a rate; write e.g. 20/s or 600/m")
        per = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}[match.group(2)]
        rate = float(match.group(1)) / per
    else:
        raise ValueError(f"expected a rate such as 20/s, got {type(value).__name__}")
    if not math.isfinite(rate):
        raise ValueError(f"{quote(value)} is not a finite rate; write e.g. 20/s or 600/m")
    if rate <= 0:
        raise ValueError(f"rate {quote(value)} must be above zero")
    if rate > 100_000:
        raise ValueError(f"rate {quote(value)} is above 100000/s; is a unit wrong?")
    return rate


def parse_fraction(value: object) -> float:
    """Return a fraction 0..1 for ``80%``, ``0.8`` or ``80`` (read as percent when above 1)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage such as 80%, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"cannot read {quote(value)} as a percentage; write e.g. 80% or 0.8") from None
    elif isinstance(value, (int, float)):
        number = _as_float(value)
        if number > 1:
            number /= 100.0
    else:
        raise ValueError(f"expected a percentage such as 80%, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{quote(value)} is not a finite percentage; write e.g. 80% or 0.8")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"percentage {quote(value)} must lie between 0% and 100%")
    return number
