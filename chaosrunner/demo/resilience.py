"""The API node's defences: a circuit breaker per dependency, priority load shedding, memory watch.

- ``CircuitBreaker`` (seed §8.2): *closed* counts consecutive failures; ``failure_threshold`` of
  them open it; *open* fails calls at once for ``open_for`` seconds; then *half-open* lets one
  trial call through at a time, and ``success_threshold`` successes close it (a failure re-opens).
- ``LoadShedder`` (seed §13.1): utilisation is the larger of in-flight requests / capacity and the
  memory pressure; *critical* requests are always accepted, *high* below 95 %, *medium* below
  80 %, *low* below 60 %.
- ``MemoryWatch``: memory pressure, from real numbers sampled every 0.5 s: the fuller of the
  node's cgroup (or, without a limit of its own, the machine) and the node's RSS against its own
  budget. Pressure is 0 below 50 % use and 1 at 90 %; a memory-pressure fault therefore makes
  the node shed low- and then medium-priority work (visible as 503s and in ``/metrics``) instead
  of slowing everything down until the kernel's OOM killer picks a victim.
- ``SwitchoverWatch``: what the node knows of a controlled switchover of its store, so that the
  calls meeting it are held (a pause) instead of failing and opening the store breaker.
"""
from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import psutil


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refused the call without trying it."""


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 5, success_threshold: int = 2,
                 open_for: float = 2.0) -> None:
        self.name = name
        self.failure_threshold, self.success_threshold, self.open_for = failure_threshold, success_threshold, open_for
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.successes = 0
        self.opened_at = 0.0
        self.trial_in_flight = False
        self.opened_total = 0
        self.rejected_total = 0

    def before(self) -> None:
        """Raise CircuitOpen when the call must not be tried; otherwise the caller must report back."""
        if self.state is CircuitState.OPEN:
            if time.monotonic() - self.opened_at < self.open_for:
                self.rejected_total += 1
                raise CircuitOpen(self.name)
            self.state, self.successes = CircuitState.HALF_OPEN, 0
        if self.state is CircuitState.HALF_OPEN:
            if self.trial_in_flight:
                self.rejected_total += 1
                raise CircuitOpen(self.name)
            self.trial_in_flight = True

    def success(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            self.trial_in_flight = False
            self.successes += 1
            if self.successes >= self.success_threshold:
                self.state, self.failures = CircuitState.CLOSED, 0
        else:
            self.failures = 0

    def failure(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            self.trial_in_flight = False
            self._open()
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self.state, self.opened_at, self.failures = CircuitState.OPEN, time.monotonic(), 0
        self.opened_total += 1

    def state_value(self) -> float:
        """0 closed, 1 open, 0.5 half-open (the /metrics gauge)."""
        return {CircuitState.CLOSED: 0.0, CircuitState.OPEN: 1.0, CircuitState.HALF_OPEN: 0.5}[self.state]


class SwitchoverWatch:
    """A controlled switchover of the store, as an API node sees it.

    ``seen()`` when the store says one is under way (the demoted primary refusing a write with
    ``"switchover": true``, or its ``/role`` showing ``draining``); ``ended()`` when a writable
    primary answers again (a write went through, ``/role`` says so). ``recent()``: the last signal
    came within ``hold`` s, so a refused or reset connection (the store proxy being re-pointed) or
    a "not primary" answer is the switchover going on, not a store failure. ``lasting()``: how long
    the current one has been going on (0 when none is).
    """

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.since: float | None = None
        self.last = 0.0
        self.held_total = 0            # store calls held through a switchover
        self.expired_total = 0         # ... that it outlasted (they failed)

    def seen(self) -> None:
        now = time.monotonic()
        if self.since is None or now - self.last > self.hold:
            self.since = now
        self.last = now

    def ended(self) -> None:
        self.since = None

    def recent(self) -> bool:
        return self.since is not None and time.monotonic() - self.last < self.hold

    def lasting(self) -> float:
        return time.monotonic() - self.since if self.since is not None and self.recent() else 0.0


PRIORITY_LIMITS = {"critical": float("inf"), "high": 0.95, "medium": 0.80, "low": 0.60}


class LoadShedder:
    def __init__(self, capacity: int, memory: MemoryWatch | None = None) -> None:
        self.capacity = capacity
        self.memory = memory
        self.in_flight = 0
        self.shed: dict[str, int] = {p: 0 for p in PRIORITY_LIMITS}

    def utilisation(self) -> float:
        pressure = self.memory.pressure() if self.memory is not None else 0.0
        return max(self.in_flight / self.capacity, pressure)

    def admit(self, priority: str) -> bool:
        if self.utilisation() < PRIORITY_LIMITS[priority]:
            return True
        self.shed[priority] += 1
        return False


def _cgroup_memory_files(pid: int) -> tuple[Path, Path] | None:
    """(usage, limit) files of the process's own memory cgroup, when it has a real limit."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    root = Path("/sys/fs/cgroup")
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (root / "cgroup.controllers").exists():
            d = root / path.lstrip("/")
            candidates = (d / "memory.current", d / "memory.max")
        elif "memory" in controllers.split(","):
            d = root / "memory" / path.lstrip("/")
            candidates = (d / "memory.usage_in_bytes", d / "memory.limit_in_bytes")
        else:
            continue
        try:
            raw = candidates[1].read_text().strip()
            if raw != "max" and int(raw) < psutil.virtual_memory().total:
                return candidates
        except (OSError, ValueError):
            continue
    return None


class MemoryWatch:
    """Memory pressure in [0, 1] from the cgroup/machine fill and the node's RSS budget."""

    LOW, HIGH = 0.50, 0.90

    def __init__(self, budget_bytes: int, interval: float = 0.5) -> None:
        self.budget, self.interval = budget_bytes, interval
        self.proc = psutil.Process()
        self.files = _cgroup_memory_files(self.proc.pid)
        self._at = 0.0
        self._pressure = 0.0
        self.rss = 0
        self.used_fraction = 0.0

    def sample(self) -> None:
        self.rss = self.proc.memory_info().rss
        fraction = None
        if self.files is not None:
            try:
                fraction = int(self.files[0].read_text()) / int(self.files[1].read_text())
            except (OSError, ValueError):
                fraction = None
        if fraction is None:
            vm = psutil.virtual_memory()
            fraction = (vm.total - vm.available) / vm.total
        self.used_fraction = max(fraction, self.rss / self.budget)
        self._pressure = min(1.0, max(0.0, (self.used_fraction - self.LOW) / (self.HIGH - self.LOW)))

    def pressure(self) -> float:
        now = time.monotonic()
        if now - self._at >= self.interval:
            self._at = now
            self.sample()
        return self._pressure


class MemoryHold:
    """Memory the node was told to hold (``POST /admin/memory``): allocated and every page touched."""

    def __init__(self) -> None:
        self.blocks: list[bytearray] = []

    def hold(self, megabytes: int) -> int:
        for _ in range(megabytes):
            block = bytearray(1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
            self.blocks.append(block)
        return self.held_mb()

    def release(self) -> None:
        self.blocks.clear()

    def held_mb(self) -> int:
        return len(self.blocks)
