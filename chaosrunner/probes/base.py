"""The probe interface: one asynchronous check that says whether a thing is healthy.

A probe is ``async check() -> Outcome``. The sampler (``chaosrunner.execute.sampling``) owns the
clock: it calls ``check`` on fixed deadlines, applies the timeout, measures start and end and
records a ``timeline.Sample``. A probe never sleeps, retries or records anything itself, and
raising is the same as answering not-ok with the exception's text as the error.

Probes are built from their model by a factory registered with ``register_probe``; the
factory receives a ``ProbeContext`` (the run's timeline, the resolved inventory, the load
runner) so probes such as ``metric`` can read load statistics.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chaosrunner.timeline import Timeline


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    value: Any = None
    error: str | None = None
    role: str | None = None      # role probes: who answered as primary


class Probe(Protocol):
    name: str
    timeout: float

    async def check(self) -> Outcome: ...

    async def close(self) -> None: ...


@dataclass
class ProbeContext:
    """What a probe factory may use besides its own model."""

    timeline: Timeline | None = None
    inventory: Any = None          # chaosrunner.model.targets.Inventory (resolved)
    base_url: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


ProbeFactory = Callable[[Any, str, ProbeContext], Probe]
"""factory(probe_model, name, context) -> Probe"""

_FACTORIES: dict[str, ProbeFactory] = {}


def register_probe(type_name: str) -> Callable[[ProbeFactory], ProbeFactory]:
    def deco(factory: ProbeFactory) -> ProbeFactory:
        _FACTORIES[type_name] = factory
        return factory

    return deco


def probe_factory(type_name: str) -> ProbeFactory | None:
    return _FACTORIES.get(type_name)


async def _noop() -> None:
    return None


AsyncCloser = Callable[[], Awaitable[None]]
