"""The probe interface: one asynchronous check that says whether a thing is healthy.

A probe is ``async check() -> Outcome``. The sampler (``chaosrunner.execute.sampling``) owns the
clock: it calls ``check`` on fixed deadlines, applies the timeout, measures start and end and
records a ``timeline.Sample``. A probe never sleeps, retries or records anything itself, and
raising is the same as answering not-ok with the exception's text as the error.

Probes are built from their model by a factory registered with ``register_probe``; the
factory receives a ``ProbeContext`` (the run's timeline, the resolved inventory, the load
runner, the run's secrets) so probes such as ``metric`` can read load statistics.

What a probe answers leaves it whole: ``build_probe`` wraps every probe in a ``RedactingProbe``,
the one place where its error, value and role are redacted (the run's ``Secrets``) and only then
cut to ``ANSWER_LIMIT`` characters. A probe never truncates its own text: a body cut at 200
characters before redaction would keep the first part of a secret that straddles the cut.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chaosrunner.read.resolve import Secrets
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
    secrets: Secrets | None = None     # the run's: what probes answer is redacted with it


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


ANSWER_LIMIT = 200
"""Characters of a probe's error (and of a text value) that are kept, after redaction."""


class RedactingProbe:
    """A probe whose answers are redacted, then cut: what every sampled probe is (``build_probe``).

    An exception the probe raises becomes a failed answer here (its text redacted like any other);
    a ``TimeoutError`` is left to the sampler, which names the probe's timeout."""

    def __init__(self, probe: Probe, secrets: Secrets | None):
        self.probe = probe
        self.secrets = secrets
        self.name, self.timeout = probe.name, probe.timeout

    def __getattr__(self, attr: str) -> Any:      # the wrapped probe's own attributes (url, argv, ...)
        return getattr(self.probe, attr)

    def _clip(self, text: str) -> str:
        if self.secrets is not None:
            text = self.secrets.redact(text)
        return text if len(text) <= ANSWER_LIMIT else text[:ANSWER_LIMIT - 3] + "..."

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._clip(value)
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(v) for v in value]
        return value

    async def check(self) -> Outcome:
        try:
            outcome = await self.probe.check()
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - a probe that raises answers "not ok", with the reason
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return Outcome(False, None, self._clip(text))
        return Outcome(outcome.ok, self._value(outcome.value),
                       self._clip(outcome.error) if outcome.error is not None else None,
                       self._clip(outcome.role) if outcome.role is not None else None)

    async def close(self) -> None:
        await self.probe.close()

