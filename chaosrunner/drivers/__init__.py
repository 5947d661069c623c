"""Driver registry: the built-in drivers and those registered under the ``chaosrunner.drivers``
entry-point group, validated when loaded (not when first used), as pluggy does for hooks.

Loading a driver checks what it declares (``chaosrunner.drivers.base``): a name, the three
calls, its fault models (each a ``Fault`` with one ``type`` literal) and its handle (an inventory
key and a pydantic model); then that no two drivers disagree (one name, one model per fault
type, one model per handle key). A plugin that fails is left out and reported as a
``ConfigError``: ``registry()`` raises it, ``usable_drivers()`` (crash recovery, which must revert
what it can) does not. The drivers loaded install their vocabulary into the experiment and
inventory models (``chaosrunner.model.vocabulary``).

A plugin package declares, in its pyproject.toml::

    [project.entry-points."chaosrunner.drivers"]
    pod-kill = "chaosrunner_k8s:PodKillDriver"
"""
from __future__ import annotations

import inspect
import keyword
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import ConfigError, ConfigErrors, PlanError
from chaosrunner.model import vocabulary
from chaosrunner.model.faults import Fault, fault_type_of
from chaosrunner.model.targets import Target

__all__ = ["Driver", "Fault", "Handle", "PlannedFault", "driver_class", "registry", "reload", "usable_drivers",
           "validate_driver_class"]

_FAULT_HINT = 'fault_models = (MyFault,), with class MyFault(Fault): type: Literal["my-fault"] plus its parameters'


def _name(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def validate_driver_class(obj: object, origin: str) -> type[Driver]:
    """``obj`` as a driver class, or a ConfigError saying what its declarations lack."""
    if not isinstance(obj, type) or not issubclass(obj, Driver):
        raise ConfigError(f"driver {origin} is not a subclass of chaosrunner.drivers.Driver",
                          hint="the entry point names the driver class: module:Class")
    if not isinstance(getattr(obj, "name", None), str) or not obj.name:
        raise ConfigError(f"driver {origin} does not set 'name'", hint='name = "<driver name>" (a class attribute)')
    abstract: frozenset[str] = getattr(obj, "__abstractmethods__", frozenset())
    if abstract:
        raise ConfigError(f"driver {origin} does not implement {', '.join(sorted(abstract))}")
    if not isinstance(inspect.getattr_static(obj, "fault_types"), classmethod):
        raise ConfigError(f"driver {origin} sets fault_types; a driver declares the models of its fault types",
                          hint=_FAULT_HINT)
    models = getattr(obj, "fault_models", None)
    if not isinstance(models, tuple | list) or not models:
        raise ConfigError(f"driver {origin} does not declare fault_models", hint=_FAULT_HINT)
    for model in models:
        _check_fault_model(model, origin)
    _check_handle(obj, origin)
    return obj


def _check_fault_model(model: Any, origin: str) -> None:
    if not isinstance(model, type) or not issubclass(model, Fault):
        raise ConfigError(f"driver {origin}: fault model {model!r} is not a subclass of chaosrunner.drivers.Fault",
                          hint=_FAULT_HINT)
    try:
        fault_type_of(model)
    except ValueError as exc:
        raise ConfigError(f"driver {origin}: {exc}", hint=_FAULT_HINT) from None
    _check_schema(model, f"driver {origin}: fault model {model.__name__}")


def _check_schema(model: type[BaseModel], what: str) -> None:
    try:
        model.model_json_schema()       # complete (no undefined annotation) and describable for `schema`
    except Exception as exc:  # noqa: BLE001 - whatever pydantic objects to, said with the plugin's name
        raise ConfigError(f"{what} is not a usable pydantic model: {type(exc).__name__}: {exc}") from None


def _check_handle(cls: type[Driver], origin: str) -> None:
    key, model = cls.handle, cls.handle_model
    if key is None:
        if model is not None:
            raise ConfigError(f"driver {origin} sets handle_model but no handle",
                              hint='handle = "<inventory key>", the key a target carries the handle under')
        return
    if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key) or key.startswith(("_", "model_")) \
            or key in Target.FACTS or hasattr(BaseModel, key):
        raise ConfigError(f"driver {origin}: handle {key!r} cannot be an inventory key",
                          hint="a lowercase name (letters, digits, _) that is not one of "
                               + ", ".join(sorted(Target.FACTS)))
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        raise ConfigError(f"driver {origin} declares handle {key!r} without a handle_model (a pydantic model)",
                          hint=f"handle_model = a pydantic model of what `{key}:` holds on a target")
    _check_schema(model, f"driver {origin}: handle model {model.__name__}")


@dataclass(frozen=True)
class _Loaded:
    drivers: dict[str, type[Driver]]
    problems: tuple[ConfigError, ...]


def _builtin() -> tuple[type[Driver], ...]:
    from chaosrunner.drivers.ctk import CtkDriver
    from chaosrunner.drivers.process import ProcessDriver
    from chaosrunner.drivers.resource import ResourceDriver
    from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

    return (ToxiproxyDriver, ResourceDriver, ProcessDriver, CtkDriver)      # their types in the seed's order


def _conflict(cls: type[Driver], drivers: dict[str, type[Driver]], origin: str) -> ConfigError | None:
    """What ``cls`` contradicts in the drivers already loaded (a name, a fault type, a handle), if anything."""
    taken = drivers.get(cls.name)
    if taken is not None:
        return ConfigError(f"driver {origin} is named {cls.name!r}, like {_name(taken)}",
                           hint="each driver needs a name of its own")
    for other in drivers.values():
        theirs = dict(zip(other.fault_types(), other.fault_models, strict=True))
        for model in cls.fault_models:
            t = fault_type_of(model)
            if theirs.get(t, model) is not model:
                return ConfigError(f"driver {origin} declares fault type {t!r} with {_name(model)}, but driver "
                                   f"{other.name!r} declares it with {_name(theirs[t])}",
                                   hint="a driver that injects an existing fault type reuses its model; "
                                        "a new fault type needs a name of its own")
        if cls.handle is not None and cls.handle == other.handle and cls.handle_model is not other.handle_model:
            return ConfigError(f"driver {origin} declares handle {cls.handle!r} with {_name(cls.handle_model)}, "
                               f"but driver {other.name!r} with {_name(other.handle_model)}",
                               hint="drivers sharing a handle key share its model; otherwise pick another key")
    return None


@lru_cache(maxsize=1)
def _load() -> _Loaded:
    drivers: dict[str, type[Driver]] = {}
    problems: list[ConfigError] = []
    for cls in _builtin():
        drivers[cls.name] = validate_driver_class(cls, _name(cls))
    for ep in entry_points(group="chaosrunner.drivers"):
        origin = f"plugin {ep.name} ({ep.value})"
        try:
            cls = validate_driver_class(ep.load(), origin)
        except ConfigError as exc:
            problems.append(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken plugin is a configuration problem, said clearly
            problems.append(ConfigError(f"driver {origin} failed to load: {type(exc).__name__}: {exc}",
                                        hint="fix or uninstall the package that provides it"))
            continue
        if drivers.get(cls.name) is cls:
            continue            # the same class under a second entry point
        conflict = _conflict(cls, drivers, origin)
        if conflict is not None:
            problems.append(conflict)
            continue
        drivers[cls.name] = cls
    faults: dict[type[Fault], None] = {m: None for cls in drivers.values() for m in cls.fault_models}
    handles = {cls.handle: cls.handle_model for cls in drivers.values()
               if cls.handle is not None and cls.handle_model is not None}
    vocabulary.install(vocabulary.Vocabulary(tuple(faults), handles))
    return _Loaded(drivers, tuple(problems))


def registry() -> dict[str, type[Driver]]:
    """Every installed driver by name; a ConfigError when a plugin is broken or contradicts another."""
    loaded = _load()
    if loaded.problems:
        raise loaded.problems[0] if len(loaded.problems) == 1 else ConfigErrors(list(loaded.problems))
    return loaded.drivers


def usable_drivers() -> dict[str, type[Driver]]:
    """The drivers that loaded, even when a plugin did not (recovery reverts what it can)."""
    return _load().drivers


def driver_class(name: str) -> type[Driver]:
    """The driver called ``name`` (PlanError naming the installed ones when there is none)."""
    drivers = usable_drivers()
    if name not in drivers:
        raise PlanError(f"no driver named {name!r} is installed", hint="installed: " + ", ".join(drivers))
    return drivers[name]


def reload() -> dict[str, type[Driver]]:
    """Load the drivers again (after installing a plugin in this process; tests) and install their vocabulary."""
    _load.cache_clear()
    return registry()
