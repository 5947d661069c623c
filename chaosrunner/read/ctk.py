"""Plain Chaos Toolkit experiments (JSON or YAML) run as they are, translated into our format.

The translation is mechanical: the steady-state hypothesis' probes become ``provider`` probes
with their tolerances; method actions become ``provider`` actions, method probes one-off
probe steps, ``pauses`` become pause steps; rollbacks become rollback actions; ``ref``
activities are looked up by name. Chaos Toolkit substitutes ``${key}`` from its
``configuration`` and ``secrets``: plain values are substituted here, ``{"type": "env", "key":
K}`` entries become chaosrunner's ``${env:K}`` (so they are treated as secrets and redacted).

Errors point into the Chaos Toolkit file: a section of the wrong shape (``method: 42``) is
refused here at its line, and the translation carries the file's positions over (``Marks``), so
the model's own errors (a pause of ``.nan``, an unknown provider type) are located there too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn

from chaosrunner import units
from chaosrunner.errors import ConfigError, Location
from chaosrunner.read.files import UnreadableFile, read_text
from chaosrunner.read.parse import Marks, parse_yaml

_PROVIDER_KEYS = {"type", "module", "func", "path", "url", "method", "arguments", "timeout", "headers",
                  "expected_status", "secrets"}
_ACTIVITY = "write an activity as a mapping: {type: action, name: ..., provider: {type: python, ...}} or {ref: NAME}"

Path_ = tuple[Any, ...]


def is_ctk_experiment(data: Any) -> bool:
    return isinstance(data, dict) and "title" in data and "method" in data and "name" not in data


def read_document(path: Path | str) -> tuple[Any, Marks]:
    """Read a YAML or JSON file: JSON (a document opening with ``{`` or ``[``) is parsed as JSON, as
    Chaos Toolkit does, so tabs and every JSON escape are fine; its positions come from the same text
    read as YAML with each tab one space wide (same lines, same columns)."""
    file = str(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}", None, "check the path") from None
    except UnreadableFile as exc:
        raise ConfigError(exc.problem, Location(file, exc.line, exc.column), exc.hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", Location(file),
                          "check the path and its permissions") from None
    if not text.lstrip().startswith(("{", "[")):
        return parse_yaml(text, file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", Location(file, exc.lineno, exc.colno),
                          "fix the JSON at that place (a missing comma or quote, a trailing comma?)") from None
    try:
        marks = parse_yaml(text.replace("\t", " "), file)[1]
    except ConfigError:                  # valid JSON that YAML cannot read: no positions, still the data
        marks = Marks(file)
    return data, marks


def activity_label(activity: Any) -> str:
    """How an error names an activity: ``activity 'stop the db'`` (or its reference)."""
    if isinstance(activity, dict) and isinstance(activity.get("name"), str):
        return f"activity {activity['name']!r}"
    if isinstance(activity, dict) and "ref" in activity:
        return f"activity reference {activity['ref']!r}"
    return "an activity without a name"


def _substitute(obj: Any, values: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return re.sub(r"\$\{([^}:]+)\}", lambda m: values.get(m.group(1), "$${" + m.group(1) + "}"), obj)
    if isinstance(obj, dict):
        return {k: _substitute(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, values) for v in obj]
    return obj


class _Converter:
    """One translation: the positions of the Chaos Toolkit file in, those of the result out."""

    def __init__(self, marks: Marks):
        self.marks = marks
        self.out = Marks(marks.file)
        self.by_name: dict[str, tuple[dict[str, Any], Path_]] = {}

    def fail(self, message: str, path: Path_, hint: str) -> NoReturn:
        raise ConfigError(message, self.marks.at(path), hint)

    def place(self, out: Path_, src: Path_) -> None:
        """The result's ``out`` (and everything below it) stands where ``src`` stands in the file."""
        n = len(src)
        for into, table in ((self.out.values, self.marks.values), (self.out.keys, self.marks.keys)):
            for path, position in table.items():
                if path[:n] == src:
                    into[out + path[n:]] = position

    def mapping(self, value: Any, path: Path_, what: str, hint: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"{what} is a mapping, not {_kind(value)}", path, hint)
        return value

    def listing(self, value: Any, path: Path_, what: str, hint: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"{what} is a list, not {_kind(value)}", path, hint)
        return value

    def values(self, data: dict[str, Any]) -> dict[str, str]:
        """``configuration`` and ``secrets``, as the text each ``${key}`` stands for."""
        values: dict[str, str] = {}
        config = self.mapping(data.get("configuration"), ("configuration",), "configuration",
                              "write configuration: {key: value, ...}")
        for key, value in config.items():
            values[str(key)] = self.value(value, ("configuration", key))
        secrets = self.mapping(data.get("secrets"), ("secrets",), "secrets", "write secrets: {scope: {key: value}}")
        for scope_name, scope in secrets.items():
            if isinstance(scope, dict):
                for key, value in scope.items():
                    values[str(key)] = self.value(value, ("secrets", scope_name, key))
        return values

    def value(self, value: Any, path: Path_) -> str:
        if isinstance(value, dict):
            if value.get("type") == "env" and isinstance(value.get("key"), str) and value["key"]:
                return "${env:%s}" % value["key"]
            self.fail(f"configuration entries of type {value.get('type')!r} are not supported"
                      if value.get("type") != "env" else "an env entry needs key: NAME", path,
                      "use plain values or {type: env, key: NAME}")
        if isinstance(value, list):
            self.fail("a configuration value is a single value, not a list", path,
                      "use plain values or {type: env, key: NAME}")
        return str(value)

    def resolve(self, activity: Any, path: Path_) -> tuple[dict[str, Any], Path_]:
        """The activity (a ``ref`` looked up by name) and where it is written."""
        if not isinstance(activity, dict):
            self.fail(f"an activity is a mapping, not {_kind(activity)}", path, _ACTIVITY)
        if "ref" in activity:
            ref = activity["ref"]
            if not isinstance(ref, str) or ref not in self.by_name:
                self.fail(f"activity reference {ref!r} names no earlier activity", path + ("ref",),
                          "known: " + (", ".join(self.by_name) or "none yet (a ref follows the activity it names)"))
            return self.by_name[ref]
        if isinstance(activity.get("name"), str):
            self.by_name[activity["name"]] = (activity, path)
        return activity, path

    def provider(self, activity: dict[str, Any], path: Path_) -> dict[str, Any]:
        prov = activity.get("provider")
        if not isinstance(prov, dict):
            self.fail(f"activity {activity.get('name')!r} has no provider", path,
                      "add provider: {type: python, module: ..., func: ...} (or process, http)")
        out = {k: v for k, v in prov.items() if k in _PROVIDER_KEYS}
        timeout = out.get("timeout")
        if isinstance(timeout, list) and timeout and all(isinstance(t, (int, float)) for t in timeout):
            out["timeout"] = sum(timeout)        # [connect, read]: at most their sum in all
        return out

    def spec(self, activity: dict[str, Any], path: Path_) -> dict[str, Any]:
        return {"type": "provider", "name": activity.get("name"), "provider": self.provider(activity, path)}

    def steps(self, value: Any, section: str, into: str, rollback: bool = False) -> list[dict[str, Any]]:
        activities = self.listing(value, (section,), section, f"write {section}: as a list of activities")
        out: list[dict[str, Any]] = []
        for i, raw in enumerate(activities):
            act, src = self.resolve(raw, (section, i))
            pauses = self.mapping(act.get("pauses"), src + ("pauses",), "pauses",
                                  "write pauses: {before: SECONDS, after: SECONDS}")
            if pauses.get("before") is not None:
                self.place((into, len(out), "pause"), src + ("pauses", "before"))
                out.append({"pause": pauses["before"]})
            spec = self.spec(act, src)
            if act.get("type") == "probe" and not rollback:
                self.place((into, len(out), "probe"), src)
                out.append({"probe": {**spec, "tolerance": act.get("tolerance")}})
            else:
                if act.get("background"):
                    spec["background"] = act["background"]
                self.place((into, len(out), "action"), src)
                out.append({"action": spec})
            if pauses.get("after") is not None:
                self.place((into, len(out), "pause"), src + ("pauses", "after"))
                out.append({"pause": pauses["after"]})
        return out

    def experiment(self, data: dict[str, Any]) -> dict[str, Any]:
        data = _substitute(data, self.values(data))
        title = data["title"]
        if isinstance(title, (dict, list)) or title is None:
            self.fail("title is the experiment's title, a line of text", ("title",), "write title: My experiment")
        for key in ("description", "tags"):
            self.place((key,), (key,))
        hypothesis = self.mapping(data.get("steady-state-hypothesis"), ("steady-state-hypothesis",),
                                  "steady-state-hypothesis",
                                  "write steady-state-hypothesis: {title: ..., probes: [...]}")
        probes_path = ("steady-state-hypothesis", "probes")
        steady: list[dict[str, Any]] = []
        for i, raw in enumerate(self.listing(hypothesis.get("probes"), probes_path, "probes",
                                             "write probes: as a list of probe activities")):
            probe, src = self.resolve(raw, probes_path + (i,))
            self.place(("steady_state", len(steady), "probe"), src)
            steady.append({"probe": {**self.spec(probe, src), "tolerance": probe.get("tolerance")}})
        if data["method"] is None:
            self.fail("method is empty", ("method",), "list at least one activity under method:")
        method = self.steps(data["method"], "method", "method")
        rollback = self.steps(data.get("rollbacks"), "rollbacks", "rollback", rollback=True)
        tags = self.listing(data.get("tags"), ("tags",), "tags", "write tags: [a, b]")
        name = re.sub(r"[^A-Za-z0-9_.\- ]+", "-", str(title)).strip("- ") or "chaos-toolkit-experiment"
        hypothesis_title = hypothesis.get("title", "")
        self.place(("hypothesis",), probes_path[:1] + ("title",))
        self.place(("name",), ("title",))
        return {
            "name": name,
            "description": data.get("description") or "",
            "hypothesis": hypothesis_title if hypothesis_title is not None else "",
            "tags": [str(t) if isinstance(t, (str, int, float)) else t for t in tags],
            "steady_state": steady,
            "method": method,
            "rollback": rollback,
        }


def _kind(value: Any) -> str:  # noqa: D103 - used by chaosrunner.ctk.load too
    """What a value is, as a message names it: "a list", "a mapping", "42", "'text'"."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return units.quote(value)


def convert(data: dict[str, Any], marks: Marks) -> tuple[dict[str, Any], Marks]:
    """A Chaos Toolkit experiment as a chaosrunner experiment (raw data, ready to validate), and
    the positions of its parts in the Chaos Toolkit file."""
    converter = _Converter(marks)
    return converter.experiment(data), converter.out
