"""Drivers registered through the `chaosrunner.drivers` entry-point group are validated when loaded."""
from __future__ import annotations

import importlib.metadata as md

import pytest

from chaosrunner import drivers
from chaosrunner.drivers import Driver, Handle, PlannedFault
from chaosrunner.errors import ConfigError


class GoodDriver(Driver):
    name = "good"
    fault_types = ("good-fault",)

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        return ("do", "undo")

    def inject(self, fault: PlannedFault) -> Handle:
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type)

    def revert(self, handle: Handle) -> None:
        return None


class HalfDriver(Driver):       # forgets revert
    name = "half"
    fault_types = ("x",)

    def describe(self, fault):
        return ("", "")

    def inject(self, fault):
        raise AssertionError


class NotADriver:
    pass


def _with_entry_points(monkeypatch, targets: dict[str, object]) -> None:
    eps = [md.EntryPoint(name, f"{__name__}:{obj.__name__}", "chaosrunner.drivers")
           for name, obj in targets.items()]
    monkeypatch.setattr(drivers, "entry_points", lambda group: eps if group == "chaosrunner.drivers" else [])
    drivers.registry.cache_clear()


@pytest.fixture(autouse=True)
def fresh_registry():
    drivers.registry.cache_clear()
    yield
    drivers.registry.cache_clear()


def test_plugin_driver_is_registered(monkeypatch):
    _with_entry_points(monkeypatch, {"good": GoodDriver})
    reg = drivers.registry()
    assert reg["good"] is GoodDriver and {"toxiproxy", "process", "resource", "ctk"} <= set(reg)


@pytest.mark.parametrize("bad,message", [(HalfDriver, "does not implement revert"),
                                         (NotADriver, "not a subclass")])
def test_invalid_plugin_fails_when_loaded(monkeypatch, bad, message):
    _with_entry_points(monkeypatch, {"bad": bad})
    with pytest.raises(ConfigError, match=message):
        drivers.registry()
