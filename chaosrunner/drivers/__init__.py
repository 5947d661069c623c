"""Driver registry: the built-in drivers and those registered under the ``chaosrunner.drivers``
entry-point group, validated when loaded (not when first used), as pluggy does for hooks.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import ConfigError

__all__ = ["Driver", "Handle", "PlannedFault", "registry", "validate_driver_class"]


def validate_driver_class(obj: object, origin: str) -> type[Driver]:
    if not isinstance(obj, type) or not issubclass(obj, Driver):
        raise ConfigError(f"driver {origin} is not a subclass of chaosrunner.drivers.Driver")
    for attr in ("name", "fault_types"):
        if not getattr(obj, attr, None):
            raise ConfigError(f"driver {origin} does not set {attr!r}")
    abstract: frozenset[str] = getattr(obj, "__abstractmethods__", frozenset())
    if abstract:
        raise ConfigError(f"driver {origin} does not implement {', '.join(sorted(abstract))}")
    return obj


@lru_cache(maxsize=1)
def registry() -> dict[str, type[Driver]]:
    from chaosrunner.drivers.ctk import CtkDriver
    from chaosrunner.drivers.process import ProcessDriver
    from chaosrunner.drivers.resource import ResourceDriver
    from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

    drivers: dict[str, type[Driver]] = {}
    builtin: tuple[type[Driver], ...] = (ToxiproxyDriver, ProcessDriver, ResourceDriver, CtkDriver)
    for cls in builtin:
        drivers[cls.name] = cls
    for ep in entry_points(group="chaosrunner.drivers"):
        try:
            cls = validate_driver_class(ep.load(), f"{ep.name} ({ep.value})")
        except ConfigError:
            raise
        except Exception as exc:  # a broken plugin is a configuration problem, said clearly
            raise ConfigError(f"driver plugin {ep.name} ({ep.value}) failed to load: {exc}") from None
        drivers[cls.name] = cls
    return drivers
