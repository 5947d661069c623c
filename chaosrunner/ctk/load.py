"""Loading and checking a Chaos Toolkit experiment file, as ``chaos validate`` does, with positions.

The checks are chaoslib's own (``ensure_activity_is_valid``, ``ensure_hypothesis_tolerance_is_valid``
for regex, jsonpath, range and probe tolerances, ``validate_controls``, configuration and secrets
loading, then ``ensure_experiment_is_valid`` on the whole), called activity by activity so that an
error names the file, the line and column of the offending activity and the activity's name. A
Python module that is not installed (a provider, a tolerance probe, a control) is named with the
package that provides it. Every error is a ``ConfigError`` (exit 2).
"""
from __future__ import annotations

import copy
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.errors import ConfigError, Location
from chaosrunner.read.ctk import _kind as kind_of
from chaosrunner.read.ctk import activity_label, is_ctk_experiment, read_document
from chaosrunner.read.parse import Marks

Path_ = tuple[Any, ...]

# the packages of the Chaos Toolkit extensions teams use most, by their top-level module
PACKAGES = {
    "chaosaddons": "chaostoolkit-addons", "chaosaws": "chaostoolkit-aws", "chaosazure": "chaostoolkit-azure",
    "chaosgcp": "chaostoolkit-google-cloud-platform", "chaosk8s": "chaostoolkit-kubernetes",
    "chaosprometheus": "chaostoolkit-prometheus", "chaostoxi": "chaostoolkit-toxiproxy",
    "chaosistio": "chaostoolkit-istio", "chaosspring": "chaostoolkit-spring", "chaosslack": "chaostoolkit-slack",
    "chaoscf": "chaostoolkit-cloud-foundry", "chaosgrafana": "chaostoolkit-grafana",
    "chaosdatadog": "chaostoolkit-datadog", "chaoswm": "chaostoolkit-wiremock",
    "chaostracing": "chaostoolkit-opentracing", "chaosreliably": "chaostoolkit-reliably",
    "chaoshumio": "chaostoolkit-humio", "chaosotel": "chaostoolkit-opentelemetry",
    "chaoslib": "chaostoolkit-lib", "chaostoolkit": "chaostoolkit",
}


@dataclass(frozen=True)
class Extension:
    """chaosrunner's own settings, in the experiment's ``extensions`` under ``name: chaosrunner`` (where Chaos
    Toolkit keeps what other tools read; ``chaos run`` ignores it):

        extensions:
          - name: chaosrunner
            objectives: {rto: 5s}            # recovery of the sampled hypothesis, from the method's start
            strict: true                     # a deviation the sampling saw fails the run
            sampling: {interval: 250ms, stable_for: 1s}

    An objective, like ``strict``, is judged on chaosrunner's findings and can fail the run."""

    rto: float | None = None
    strict: bool = False
    interval: float | None = None
    stable_for: float | None = None


@dataclass
class CtkDocument:
    """A Chaos Toolkit experiment as read: the raw data (what chaoslib runs) and its positions."""

    file: Path
    data: dict[str, Any]
    marks: Marks

    def at(self, path: Path_) -> Location:
        return self.marks.at(path)

    @property
    def title(self) -> str:
        return str(self.data.get("title") or self.file.stem)

    def extension(self) -> Extension:
        return read_extension(self)

    def experiment(self) -> dict[str, Any]:
        """A copy for chaoslib to run (it writes into the experiment)."""
        return copy.deepcopy(self.data)


def is_ctk_file(path: str | Path) -> bool:
    """Whether ``path`` holds a Chaos Toolkit experiment (``title:`` and ``method:``, no ``name:``);
    a file that cannot be read is not (its own loader says why)."""
    try:
        data, _ = read_document(path)
    except ConfigError:
        return False
    return is_ctk_experiment(data)


def read_ctk(path: str | Path) -> CtkDocument:
    data, marks = read_document(path)
    if not is_ctk_experiment(data):
        raise ConfigError("not a Chaos Toolkit experiment (it needs title: and method:)", marks.at(()),
                          "a chaosrunner experiment runs with `chaosrunner run` as it is")
    return CtkDocument(Path(path), data, marks)


def package_of(module: str) -> str:
    top = module.split(".")[0]
    return PACKAGES.get(top, f"the package that provides {top!r} (Chaos Toolkit extensions are named "
                             f"chaostoolkit-<name>)")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):         # a parent package missing, or an empty name
        return True


def activities(data: dict[str, Any]) -> Iterator[tuple[Path_, Any, str]]:
    """Every activity of the experiment, in file order, with where it is and its section."""
    hypothesis = data.get("steady-state-hypothesis")
    if isinstance(hypothesis, dict) and isinstance(hypothesis.get("probes"), list):
        for i, a in enumerate(hypothesis["probes"]):
            yield ("steady-state-hypothesis", "probes", i), a, "hypothesis"
    for section in ("method", "rollbacks"):
        if isinstance(data.get(section), list):
            for i, a in enumerate(data[section]):
                yield (section, i), a, section


def _controls(data: dict[str, Any]) -> Iterator[tuple[Path_, Any]]:
    if isinstance(data.get("controls"), list):
        for i, c in enumerate(data["controls"]):
            yield ("controls", i), c
    for path, act, _ in activities(data):
        if isinstance(act, dict) and isinstance(act.get("controls"), list):
            for i, c in enumerate(act["controls"]):
                yield path + ("controls", i), c


class _Checker:
    def __init__(self, doc: CtkDocument):
        self.doc = doc

    def fail(self, message: str, path: Path_, hint: str | None = None) -> ConfigError:
        return ConfigError(message, self.doc.at(path), hint)

    def module(self, provider: Any, what: str, path: Path_) -> None:
        if not isinstance(provider, dict) or provider.get("type") != "python":
            return
        module = provider.get("module")
        if isinstance(module, str) and _missing(module):
            package = package_of(module)
            install = f"pip install {package}" if " " not in package else f"install {package}"
            raise self.fail(f"{what}: Python module {module!r} is not installed", path + ("provider", "module"),
                            f"{install} (into the environment chaosrunner runs in), or fix the module's name")

    def shape(self, provider: Any, what: str, path: Path_) -> None:
        """What chaoslib's checks take for granted (they fail with a TypeError or AttributeError otherwise)."""
        if not isinstance(provider, dict):
            if provider is not None:
                raise self.fail(f"{what}: a provider is a mapping", path + ("provider",),
                                "write provider: {type: python, module: ..., func: ...} (or process, http)")
            return
        at = path + ("provider",)
        kind = provider.get("type")
        if kind in ("python", "http") and provider.get("arguments") is not None \
                and not isinstance(provider["arguments"], dict):
            raise self.fail(f"{what}: arguments: a {kind} provider's arguments are a mapping", at + ("arguments",),
                            "write arguments: {name: value, ...}")
        if kind == "python":
            for key in ("module", "func"):
                value = provider.get(key)
                if not isinstance(value, str) or not value or not all(p.isidentifier() for p in value.split(".")):
                    noun = "module" if key == "module" else "function"
                    raise self.fail(f"{what}: {key} {value!r} is not a Python {noun} name",
                                    at + (key,) if key in provider else at,
                                    "write module: package.module, func: function_name")
        if kind == "process" and not (isinstance(provider.get("path"), str) and provider["path"]):
            raise self.fail(f"{what}: a process provider needs path: the program to run", at, "write path: curl")
        if kind == "http" and not (isinstance(provider.get("url"), str) and provider["url"]):
            raise self.fail(f"{what}: an http provider needs url:", at, "write url: http://127.0.0.1:8080/health")

    def activity(self, path: Path_, act: Any, section: str, names: set[str]) -> None:
        from chaoslib.activity import ensure_activity_is_valid
        from chaoslib.exceptions import ChaosException
        from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid

        what = activity_label(act)
        if not isinstance(act, dict):
            raise self.fail(f"{what} in {section}: an activity is a mapping", path,
                            "write {type: action, name: ..., provider: {...}} or {ref: NAME}")
        if "ref" in act:
            if act["ref"] not in names:
                raise self.fail(f"{what} names no activity of the experiment", path + ("ref",),
                                "known: " + (", ".join(sorted(names)) or "none"))
            return
        self.shape(act.get("provider"), what, path)
        self.module(act.get("provider"), what, path)
        try:
            ensure_activity_is_valid(act)
        except ChaosException as exc:
            raise self.fail(f"{what}: {exc}", path, "see https://chaostoolkit.org/reference/api/experiment/") \
                from None
        except Exception as exc:  # noqa: BLE001 - chaoslib's checks assume shapes they do not check
            raise self.fail(f"{what}: chaoslib cannot check it ({type(exc).__name__}: {exc})", path,
                            "see https://chaostoolkit.org/reference/api/experiment/") from None
        if section == "hypothesis":
            if "tolerance" not in act:
                raise self.fail(f"{what}: a hypothesis probe needs a tolerance", path,
                                "add tolerance: (a value, [low, high], or {type: regex|jsonpath|range|probe})")
            tolerance = act["tolerance"]
            if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
                self.module(tolerance.get("provider"), f"{what}'s tolerance probe", path + ("tolerance",))
                provider = tolerance.get("provider")
                if isinstance(provider, dict) and provider.get("type") == "python" \
                        and not isinstance(provider.get("arguments"), dict):
                    # chaoslib writes the value into them, and fails with a KeyError (a traceback) if absent
                    raise self.fail(f"{what}: its tolerance probe needs provider arguments", path + ("tolerance",),
                                    "add arguments: {} to the tolerance probe's provider (chaoslib passes it `value`)")
            if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
                self.shape(tolerance.get("provider"), f"{what}'s tolerance probe", path + ("tolerance",))
            try:
                ensure_hypothesis_tolerance_is_valid(tolerance)
            except (ChaosException, TypeError, AttributeError, ValueError) as exc:
                raise self.fail(f"{what}: invalid tolerance: {exc}", path + ("tolerance",),
                                "see https://chaostoolkit.org/reference/api/experiment/#steady-state-probe-tolerance"
                                ) from None

    def check(self) -> None:
        from chaoslib.configuration import load_configuration
        from chaoslib.control import validate_controls
        from chaoslib.exceptions import ChaosException
        from chaoslib.experiment import ensure_experiment_is_valid
        from chaoslib.secret import load_secrets

        data = self.doc.data
        for key in ("method", "rollbacks", "controls"):        # the shape first, then what chaoslib requires
            if data.get(key) is not None and not isinstance(data[key], list) or key == "method" and data[key] is None:
                raise self.fail(f"{key} is a list, not {kind_of(data[key])}", (key,),
                                f"write {key}: as a list of " + ("controls" if key == "controls" else "activities"))
        hypothesis = data.get("steady-state-hypothesis")
        if hypothesis is not None and (not isinstance(hypothesis, dict)
                                       or not isinstance(hypothesis.get("probes", []), list)):
            raise self.fail("steady-state-hypothesis is {title: ..., probes: [...]}", ("steady-state-hypothesis",),
                            "write steady-state-hypothesis: {title: ..., probes: [...]}")
        names = {a["name"] for _, a, _ in activities(data) if isinstance(a, dict) and isinstance(a.get("name"), str)}
        for path, act, section in activities(data):
            self.activity(path, act, section, names)
        for key in ("title", "description"):
            if not data.get(key):
                raise self.fail(f"a Chaos Toolkit experiment requires a {key}", (key,) if key in data else (),
                                f"add {key}: ... (chaos validate requires it too)")
        for path, control in _controls(data):
            if isinstance(control, dict):
                self.module(control.get("provider"), f"control {control.get('name')!r}", path)
        experiment = self.doc.experiment()
        try:
            config = load_configuration(experiment.get("configuration") or {})
        except ChaosException as exc:
            raise self.fail(f"configuration: {exc}", ("configuration",),
                            "set the variable, or give the entry a default: {type: env, key: K, default: V}") from None
        try:
            load_secrets(experiment.get("secrets") or {}, config)
        except ChaosException as exc:
            raise self.fail(f"secrets: {exc}", ("secrets",),
                            "set the variable, or give the entry a default: {type: env, key: K, default: V}") from None
        try:
            validate_controls(experiment)
        except ChaosException as exc:
            raise self.fail(f"controls: {exc}", ("controls",) if "controls" in data else (),
                            "see https://chaostoolkit.org/reference/extending/create-control-extension/") from None
        try:
            ensure_experiment_is_valid(experiment)
        except ChaosException as exc:
            raise self.fail(str(exc), (), "see https://chaostoolkit.org/reference/api/experiment/") from None


def check_ctk(doc: CtkDocument) -> None:
    """Validate as ``chaos validate`` does, and chaosrunner's extension; a ConfigError (exit 2) names where
    and what."""
    _Checker(doc).check()
    read_extension(doc)


_EXTENSION_KEYS = {"name", "objectives", "strict", "sampling"}
_EXTENSION_HINT = ("write {name: chaosrunner, objectives: {rto: 5s}, strict: true, "
                   "sampling: {interval: 250ms, stable_for: 1s}}")


def read_extension(doc: CtkDocument) -> Extension:
    """The ``name: chaosrunner`` entry of ``extensions`` (defaults when there is none), checked."""
    from chaosrunner.units import parse_duration

    extensions = doc.data.get("extensions")
    if not isinstance(extensions, list):
        return Extension()
    for i, ext in enumerate(extensions):
        if not isinstance(ext, dict) or ext.get("name") != "chaosrunner":
            continue
        at: Path_ = ("extensions", i)
        hint = _EXTENSION_HINT
        unknown = sorted(set(ext) - _EXTENSION_KEYS)
        if unknown:
            raise ConfigError(f"the chaosrunner extension has no {unknown[0]!r}", doc.at(at + (unknown[0],)), hint)
        objectives = ext.get("objectives") or {}
        sampling = ext.get("sampling") or {}
        if not isinstance(objectives, dict) or set(objectives) - {"rto"}:
            raise ConfigError("the chaosrunner extension's objectives are {rto: DURATION}",
                              doc.at(at + ("objectives",)), hint)
        if not isinstance(sampling, dict) or set(sampling) - {"interval", "stable_for"}:
            raise ConfigError("the chaosrunner extension's sampling is {interval: D, stable_for: D}",
                              doc.at(at + ("sampling",)), hint)
        if not isinstance(ext.get("strict", False), bool):
            raise ConfigError("strict is true or false", doc.at(at + ("strict",)), hint)

        def seconds(value: Any, path: Path_, low: float, high: float) -> float | None:
            if value is None:
                return None
            try:
                x = parse_duration(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{value!r} is not a duration: {exc}", doc.at(path), "write e.g. 250ms, 5s, 2m") \
                    from None
            if not low < x <= high:
                raise ConfigError(f"{value!r} is out of range (more than {low:g}s, at most {high:g}s)", doc.at(path),
                                  _EXTENSION_HINT)
            return x

        return Extension(rto=seconds(objectives.get("rto"), at + ("objectives", "rto"), 0.0, 7 * 86400.0),
                         strict=bool(ext.get("strict", False)),
                         interval=seconds(sampling.get("interval"), at + ("sampling", "interval"), 0.004, 600.0),
                         stable_for=seconds(sampling.get("stable_for"), at + ("sampling", "stable_for"), 0.0, 3600.0))
    return Extension()


def load_ctk(path: str | Path) -> CtkDocument:
    """Read and validate a Chaos Toolkit experiment file."""
    doc = read_ctk(path)
    check_ctk(doc)
    return doc
