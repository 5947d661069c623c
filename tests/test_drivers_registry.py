"""Drivers own their vocabulary: a plugin registered under `chaosrunner.drivers` brings fault types and an
inventory handle, checked when it is loaded, accepted by the experiment and inventory models (with located
errors), planned by fault type + handle. (The same, through a real installed package: test_plugin_package.py.)"""
from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from support import write

from chaosrunner import drivers
from chaosrunner.drivers import Driver, Fault, Handle, PlannedFault
from chaosrunner.errors import ConfigError, PlanError
from chaosrunner.execute import ledger, recovery
from chaosrunner.model import vocabulary
from chaosrunner.model.experiment import Experiment
from chaosrunner.model.faults import NetworkFault, ProcessFault
from chaosrunner.model.targets import Inventory, Target, outside_loopback
from chaosrunner.planning.planner import make_plan
from chaosrunner.read.documents import read_experiments


class GoodHandle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str

    def addresses(self) -> list[str]:
        return []


class GoodFault(Fault):
    type: Literal["good-fault"]
    level: int = Field(..., ge=1)
    mode: Literal["soft", "hard"] = "soft"


class GoodDriver(Driver):
    name = "good"
    fault_models = (GoodFault,)
    handle = "goodhandle"
    handle_model = GoodHandle

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        return (f"level {fault.spec.level} at {fault.handle().path}", "undo")

    def inject(self, fault: PlannedFault) -> Handle:
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type)

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"path": fault.handle().path, "level": fault.spec.level})

    def revert(self, handle: Handle) -> None:
        return None


class NetemDriver(GoodDriver):        # another way to inject the built-in network fault, through its own handle
    name = "netem"
    fault_models = (NetworkFault,)
    handle = "netem"
    handle_model = GoodHandle

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        return (f"netem {fault.spec.operation}", "undo")


class HalfDriver(Driver):       # forgets revert
    name = "half"
    fault_models = (GoodFault,)

    def describe(self, fault):
        return ("", "")

    def inject(self, fault):
        raise AssertionError


class NotADriver:
    pass


class OldStyleDriver(GoodDriver):
    name = "old"
    fault_types = ("x",)                        # type: ignore[assignment]


class NoModelsDriver(GoodDriver):
    name = "nomodels"
    fault_models = ()


class UntypedFault(Fault):
    type: str
    level: int = 1


class UntypedFaultDriver(GoodDriver):
    name = "untyped"
    fault_models = (UntypedFault,)


class PlainModelDriver(GoodDriver):
    name = "plain"
    fault_models = (GoodHandle,)                # type: ignore[assignment]


class IncompleteFault(Fault):
    type: Literal["incomplete"]
    x: Undefined123                             # noqa: F821 - never defined: the model cannot be built


class IncompleteDriver(GoodDriver):
    name = "incomplete"
    fault_models = (IncompleteFault,)


class HandleWithoutModelDriver(GoodDriver):
    name = "nohandlemodel"
    handle_model = None


class FactHandleDriver(GoodDriver):
    name = "facthandle"
    handle = "url"


class OtherNetworkFault(Fault):
    type: Literal["network"]
    how: str


class ClashingTypeDriver(GoodDriver):
    name = "clashing"
    fault_models = (OtherNetworkFault,)


class TakenNameDriver(GoodDriver):
    name = "process"


class ClashingHandleDriver(GoodDriver):
    name = "clashinghandle"
    handle = "toxiproxy"


@pytest.fixture
def install():
    """Load the registry with these plugins as the `chaosrunner.drivers` entry points; the real ones after."""
    real = drivers.entry_points

    def install(plugins: dict[str, object]) -> dict[str, type[Driver]]:
        eps = [md.EntryPoint(name, obj if isinstance(obj, str) else f"{__name__}:{obj.__name__}",
                             "chaosrunner.drivers") for name, obj in plugins.items()]
        drivers.entry_points = lambda group: eps if group == "chaosrunner.drivers" else []
        return drivers.reload()

    yield install
    drivers.entry_points = real
    drivers.reload()


def _files(tmp_path, action: str, handle: str = "goodhandle: {path: /srv/flags}"):
    write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    {handle}
  proxied:
    toxiproxy: {{proxy: web}}
""")
    return write(tmp_path / "exp.yaml", f"""\
name: plugin-fault
targets: inv.yaml
method:
  - action: {action}
""")


def test_plugin_driver_is_registered(install):
    reg = install({"good": GoodDriver})
    assert reg["good"] is GoodDriver and {"toxiproxy", "process", "resource", "ctk"} <= set(reg)


def test_plugin_fault_type_and_handle_are_validated_planned_and_found(install, tmp_path):
    install({"good": GoodDriver})
    [exp] = read_experiments(_files(tmp_path, "{type: good-fault, target: web, level: 3, mode: hard}"))
    spec = exp.model.method[0].action
    assert isinstance(exp.model, Experiment) and isinstance(spec, GoodFault) and (spec.level, spec.mode) == (3, "hard")
    plan = make_plan(exp)
    [fault] = plan.faults()
    assert plan.drivers == ["good"] and fault.handle() == GoodHandle(path="/srv/flags")
    assert plan.steps[0].describe == [("level 3 at /srv/flags", "undo")]
    assert plan.outside_loopback == []          # the handle says it reaches nothing beyond this machine


def test_a_plugin_handle_can_be_referenced_like_any_field_of_a_target(install, tmp_path):
    install({"good": GoodDriver})
    _files(tmp_path, "{type: good-fault, target: web, level: 1}")
    exp = write(tmp_path / "probe.yaml", """\
name: reference
targets: inv.yaml
steady_state:
  - probe: {type: command, name: flags, command: "test -d ${web.goodhandle.path}"}
method:
  - action: {type: good-fault, target: web, level: 1}
""")
    [loaded] = read_experiments(exp)
    assert loaded.model.steady_state[0].probe.command == "test -d /srv/flags"


@pytest.mark.parametrize("action, where, message, hint", [
    ("{type: good-fault, target: web, levle: 3}", "exp.yaml:4:45", "unknown key 'levle'", "did you mean 'level'?"),
    ("{type: good-fault, target: web, level: 0}", "exp.yaml:4:52", "level: Input should be greater than or equal to 1",
     None),
    ("{type: good-fault, target: web, level: 1, mode: hrad}", "exp.yaml:4:61", "'hrad' is not allowed here",
     "did you mean 'hard'?"),
    ("{type: god-fault, target: web, level: 1}", "exp.yaml:4:20", "unknown fault type 'god-fault'",
     "did you mean 'good-fault'?"),
])
def test_errors_in_a_plugin_fault_are_located(install, tmp_path, action, where, message, hint):
    install({"good": GoodDriver})
    with pytest.raises(ConfigError) as info:
        read_experiments(_files(tmp_path, action))
    text = str(info.value)
    assert f"{tmp_path / where}: {message}" in text, text
    assert hint is None or hint in text, text


def test_errors_in_a_plugin_handle_are_located(install, tmp_path):
    install({"good": GoodDriver})
    exp = _files(tmp_path, "{type: good-fault, target: web, level: 1}", handle="goodhandel: {path: /srv/flags}")
    with pytest.raises(ConfigError, match=r"inv.yaml:3:5: unknown key 'goodhandel'\n  hint: did you mean 'goodhandle'"):
        read_experiments(exp)
    exp = _files(tmp_path, "{type: good-fault, target: web, level: 1}", handle="goodhandle: {pth: /srv/flags}")
    with pytest.raises(ConfigError, match=r"inv.yaml:3:18: unknown key 'pth'\n  hint: did you mean 'path'"):
        read_experiments(exp)


def test_without_the_plugin_its_fault_type_and_handle_are_unknown(install, tmp_path):
    install({})
    with pytest.raises(ConfigError, match=r"inv.yaml:3:5: unknown key 'goodhandle'"):
        read_experiments(_files(tmp_path, "{type: network, operation: partition, target: proxied}"))
    exp = _files(tmp_path, "{type: good-fault, target: web, level: 3}", handle="url: http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="unknown fault type 'good-fault'") as info:
        read_experiments(exp)
    assert "known types: network, latency, error, resource, process, provider" in str(info.value)


@pytest.mark.parametrize("bad, message", [
    (HalfDriver, "does not implement revert"),
    (NotADriver, "not a subclass"),
    (OldStyleDriver, "sets fault_types; a driver declares the models of its fault types"),
    (NoModelsDriver, "does not declare fault_models"),
    (UntypedFaultDriver, r"UntypedFault must declare `type: Literal\[\"<fault type>\"\]`"),
    (PlainModelDriver, "fault model .*GoodHandle.* is not a subclass of chaosrunner.drivers.Fault"),
    (IncompleteDriver, "fault model IncompleteFault is not a usable pydantic model"),
    (HandleWithoutModelDriver, "declares handle 'goodhandle' without a handle_model"),
    (FactHandleDriver, "handle 'url' cannot be an inventory key"),
    (ClashingTypeDriver, "declares fault type 'network' with .*OtherNetworkFault, but driver 'toxiproxy' declares "
                         "it with chaosrunner.model.faults.NetworkFault"),
    (TakenNameDriver, "is named 'process', like chaosrunner.drivers.process.ProcessDriver"),
    (ClashingHandleDriver, "declares handle 'toxiproxy' with .*GoodHandle, but driver 'toxiproxy' with "
                           "chaosrunner.model.targets.ToxiproxyHandle"),
    ("nope_no_such_module:Driver", "failed to load: ModuleNotFoundError"),
])
def test_invalid_plugin_fails_when_loaded(install, bad, message):
    with pytest.raises(ConfigError, match=f"driver plugin bad .*{message}"):
        install({"bad": bad})


def test_a_broken_plugin_leaves_the_others_usable_for_recovery(install, tmp_path):
    with pytest.raises(ConfigError, match="does not implement revert"):
        install({"half": HalfDriver, "good": GoodDriver})
    assert "good" in drivers.usable_drivers() and "half" not in drivers.usable_drivers()
    # a fault of the good plugin whose run died mid-inject: rebuilt from the ledger's intent
    book = ledger.Ledger(tmp_path, run_id="r1")
    target = vocabulary.current().target_model.model_validate({"goodhandle": {"path": "/srv/flags"}})
    book.intend("f1", "web", "good-fault", "good", {
        "spec": GoodFault(type="good-fault", target="web", level=2).model_dump(mode="json"), "target": "web",
        "target_model": target.model_dump(mode="json")})
    [entry] = book.entries()
    handle = recovery.handle_from_intent(entry)
    assert handle is not None and handle.data == {"path": "/srv/flags", "level": 2}


def test_the_driver_is_picked_by_fault_type_and_the_handle_on_the_target(install, tmp_path):
    install({"netem": NetemDriver})
    action = "{type: network, operation: partition, target: %s}"
    [exp] = read_experiments(_files(tmp_path, action % "web", handle="netem: {path: /srv}"))
    assert make_plan(exp).drivers == ["netem"]
    [exp] = read_experiments(_files(tmp_path, action % "proxied", handle="netem: {path: /srv}"))
    assert make_plan(exp).drivers == ["toxiproxy"]
    [exp] = read_experiments(_files(tmp_path, action % "web", handle="url: http://127.0.0.1:1"))
    with pytest.raises(PlanError, match="target 'web' has no netem or toxiproxy handle, which a network fault needs"):
        make_plan(exp)


def test_a_missing_handle_is_a_plan_error_with_a_fix():
    fault = PlannedFault("f1", ProcessFault(type="process", operation="stop", target="web"), "web",
                         Target(url="http://127.0.0.1:1"), "process")
    with pytest.raises(PlanError, match="target 'web' has no process handle") as info:
        fault.handle()
    assert info.value.hint == "add `process:` to 'web' in the inventory"


def test_outside_loopback_asks_each_handle_what_it_reaches():
    inv = Inventory.model_validate({"targets": {
        "pods": {"kubernetes": {"selector": "app=api"}},                  # no addresses(): beyond loopback
        "remote": {"toxiproxy": {"api": "http://10.0.0.1:8474", "proxy": "p"}},
        "local": {"toxiproxy": {"proxy": "p"}, "process": {"pid": 1}}}})
    assert outside_loopback(inv) == ["pods", "remote"]


def test_undoes_says_which_actions_undo_instead_of_inject():
    assert NetworkFault(type="network", operation="restore", target="db").undoes()
    assert not NetworkFault(type="network", operation="partition", target="db").undoes()
    assert not GoodFault(type="good-fault", target="db", level=1).undoes()


def test_the_builtin_drivers_declare_the_builtin_vocabulary(install):
    install({})
    assert vocabulary.current() == vocabulary.builtin()
    assert vocabulary.current().target_model is Target


def test_builtin_fault_types_validate_without_the_registry():
    code = """if True:
        import sys
        from chaosrunner import Experiment
        e = Experiment.model_validate({"name": "x", "method": [
            {"action": {"type": "network", "operation": "partition", "target": "db"}},
            {"action": {"type": "process", "operation": "stop", "target": "web"}}]})
        assert [type(s.action).__name__ for s in e.method] == ["NetworkFault", "ProcessFault"]
        assert "chaosrunner.drivers.toxiproxy" not in sys.modules     # no driver was loaded
        print("ok")
    """
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
