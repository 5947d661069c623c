"""The exception tree of chaosrunner.

    ChaosRunnerError                 root: everything chaosrunner raises on purpose
    ├── ConfigError                  bad input: file, line, column, what is wrong, how to fix it (exit 2)
    ├── PlanError                    a valid file that cannot be planned against its targets (exit 2)
    ├── DriverError                  a driver could not inject a fault (carries target and fault)
    │   └── RevertFailed             a fault could not be reverted: a human must look (exit 4)
    ├── ProbeError                   a probe could not be built or run
    ├── LoadError                    the load generator could not start or died
    ├── RunAborted                   a stop condition or a signal ended the run (exit 3)
    └── OrphanedFaults               faults of a dead run are still in the ledger: `recover` first (exit 4)

Backend errors (requests, boto, kubernetes, psutil) are translated at the driver's edge with
``raise DriverError(...) from exc`` so callers only ever handle this tree.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


class ChaosRunnerError(Exception):
    """Root of every error chaosrunner raises on purpose."""

    exit_code = 1


@dataclass
class Location:
    """Where in a file something is: 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return self.file


class ConfigError(ChaosRunnerError):
    """Invalid input: one readable message naming the file, the line and the fix."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigErrors(ConfigError):
    """Several ConfigErrors found in one file, reported together."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))

    def render(self) -> str:
        return "\n".join(e.render() for e in getattr(self, "errors", []))


class PlanError(ChaosRunnerError):
    """A valid experiment that cannot be planned (unknown target, no handle for a fault)."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message, self.location, self.hint = message, location, hint
        text = f"{location}: {message}" if location else message
        if hint:
            text += f"\n  hint: {hint}"
        super().__init__(text)


class DriverError(ChaosRunnerError):
    """A driver failed to inject or talk to a target."""

    def __init__(self, message: str, *, target: str | None = None, fault: str | None = None):
        self.target, self.fault, self.detail = target, fault, message
        where = " on ".join(part for part in (fault, target) if part)
        super().__init__(f"[{where}] {message}" if where else message)


class RevertFailed(DriverError):
    """A fault could not be reverted; it stays in the ledger for `chaosrunner recover`."""

    exit_code = 4


class ProbeError(ChaosRunnerError):
    """A probe could not be built or run."""


class LoadError(ChaosRunnerError):
    """The load generator could not start, or died during the run."""

    exit_code = 2


class RunAborted(ChaosRunnerError):
    """A stop condition or a signal ended the run early."""

    exit_code = 3

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class OrphanedFaults(ChaosRunnerError):
    """Faults of an earlier run were never reverted; `chaosrunner recover` must run first."""

    exit_code = 4


def suggest(word: str, options: list[str]) -> str | None:
    """The option closest to ``word`` (a \"did you mean\" for error hints), or None."""
    match = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return match[0] if match else None
