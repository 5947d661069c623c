"""Conversion both ways: a Chaos Toolkit experiment in chaosrunner's form, and a chaosrunner
experiment in Chaos Toolkit's form where it can be expressed, with what cannot be said aside.

To Chaos Toolkit: steady-state ``http``, ``command`` and ``provider`` probes become hypothesis probes
(status, exit code, ``contains`` as a regex tolerance, or the provider's own tolerance); method
``provider`` actions become actions (their ``revert`` a rollback), one-off probes become probes,
pauses become the next activity's ``pauses.before`` (or the previous one's ``after``); ``${env:K}``
becomes a configuration entry ``{type: env, key: K}``. Faults driven by chaosrunner's own drivers,
``tcp``/``metric``/``role`` probes, objectives, load, writer, stop conditions and sampling have no
Chaos Toolkit form: each is named in the list of what was left out.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chaosrunner.errors import ConfigError
from chaosrunner.read.ctk import convert as ctk_to_runner
from chaosrunner.read.ctk import is_ctk_experiment, read_document
from chaosrunner.units import parse_duration

_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_SECTIONS_WITHOUT_FORM = ("objectives", "load", "writer", "abort_when", "sampling", "targets")


def to_chaosrunner(path: str | Path) -> dict[str, Any]:
    """A Chaos Toolkit experiment file in chaosrunner's form (raw, as a file would hold it)."""
    data, marks = read_document(path)
    if not is_ctk_experiment(data):
        raise ConfigError("not a Chaos Toolkit experiment (it needs title: and method:)", marks.at(()),
                          "to convert a chaosrunner experiment to Chaos Toolkit, add --to ctk")
    return ctk_to_runner(data, marks)[0]


class _ToCtk:
    def __init__(self) -> None:
        self.left_out: list[str] = []
        self.env: set[str] = set()

    def text(self, value: Any) -> Any:
        if isinstance(value, str):
            for key in _ENV.findall(value):
                self.env.add(key)
            return _ENV.sub(lambda m: "${" + m.group(1) + "}", value)
        if isinstance(value, dict):
            return {k: self.text(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.text(v) for v in value]
        return value

    def probe(self, spec: dict[str, Any], where: str) -> dict[str, Any] | None:
        kind, name = spec.get("type"), spec.get("name") or spec.get("type")
        timeout = parse_duration(spec["timeout"]) if spec.get("timeout") is not None else None
        if kind == "http":
            provider: dict[str, Any] = {"type": "http", "url": spec["url"]}
            for key in ("method", "headers"):
                if spec.get(key):
                    provider[key] = spec[key]
            if spec.get("body") is not None:
                provider["arguments"] = spec["body"]
            tolerance: Any = spec.get("expected_status", 200)
            if spec.get("contains"):
                tolerance = {"type": "regex", "pattern": re.escape(spec["contains"]), "target": "body"}
                self.left_out.append(f"{where} {name!r}: expected_status (a tolerance is one check: contains kept)")
        elif kind == "command":
            command = spec["command"]
            argv = command.split() if isinstance(command, str) else list(command)
            provider = {"type": "process", "path": argv[0], "arguments": argv[1:]}
            tolerance = spec.get("expected_exit", 0)
            if spec.get("contains"):
                tolerance = {"type": "regex", "pattern": re.escape(spec["contains"]), "target": "stdout"}
                self.left_out.append(f"{where} {name!r}: expected_exit (a tolerance is one check: contains kept)")
        elif kind == "provider":
            provider, tolerance = dict(spec["provider"]), spec.get("tolerance")
        else:
            self.left_out.append(f"{where} {name!r}: a {kind} probe has no Chaos Toolkit form")
            return None
        if timeout is not None and "timeout" not in provider:
            provider["timeout"] = timeout
        out = {"type": "probe", "name": name, "provider": self.text(provider)}
        if tolerance is not None:
            out["tolerance"] = tolerance
        return out

    def steps(self, steps: list[Any], section: str, rollbacks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        pending_pause: float | None = None
        for i, step in enumerate(steps or []):
            where = f"{section}[{i}]"
            if not isinstance(step, dict):
                continue
            if "pause" in step:
                seconds = parse_duration(step["pause"])
                if out and section == "method":
                    out[-1].setdefault("pauses", {})["after"] = out[-1].get("pauses", {}).get("after", 0) + seconds
                else:
                    pending_pause = (pending_pause or 0) + seconds
                continue
            activity: dict[str, Any] | None = None
            if isinstance(step.get("probe"), dict):
                activity = self.probe(step["probe"], where)
            elif isinstance(step.get("action"), dict):
                spec = step["action"]
                name = spec.get("name") or spec.get("type")
                if spec.get("type") == "provider":
                    activity = {"type": "action", "name": name, "provider": self.text(dict(spec["provider"]))}
                    if spec.get("background"):
                        activity["background"] = True
                    if spec.get("revert"):
                        rollbacks.append({"type": "action", "name": f"{name} (revert)",
                                          "provider": self.text(dict(spec["revert"]))})
                    if spec.get("duration") is not None:
                        self.left_out.append(f"{where} {name!r}: duration (a Chaos Toolkit action has none)")
                else:
                    self.left_out.append(f"{where} {name!r}: a {spec.get('type')} fault is driven by chaosrunner's "
                                         f"own drivers (no Chaos Toolkit form)")
            else:
                kinds = ", ".join(k for k in step if k != "id")
                self.left_out.append(f"{where}: {kinds} has no Chaos Toolkit form")
            if activity is None:
                continue
            if pending_pause:
                activity.setdefault("pauses", {})["before"] = pending_pause
                pending_pause = None
            out.append(activity)
        if pending_pause:
            self.left_out.append(f"{section}: a pause with no activity to hang it on")
        return out

    def experiment(self, raw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"version": "1.0.0", "title": raw.get("name"),
                               "description": raw.get("description") or raw.get("hypothesis") or str(raw.get("name"))}
        if raw.get("tags"):
            out["tags"] = [str(t) for t in raw["tags"]]
        probes = []
        for i, item in enumerate(raw.get("steady_state") or []):
            spec = item.get("probe") if isinstance(item, dict) else None
            if isinstance(spec, dict):
                p = self.probe(spec, f"steady_state[{i}]")
                if p is not None:
                    probes.append(p)
        rollbacks: list[dict[str, Any]] = []
        method = self.steps(raw.get("method") or [], "method", rollbacks)
        rollbacks = self.steps(raw.get("rollback") or [], "rollback", rollbacks) + rollbacks
        for section in _SECTIONS_WITHOUT_FORM:
            if raw.get(section):
                self.left_out.append(f"{section}: no Chaos Toolkit form")
        if self.env:
            out["configuration"] = {k: {"type": "env", "key": k} for k in sorted(self.env)}
        if probes:
            out["steady-state-hypothesis"] = {"title": raw.get("hypothesis") or "steady state", "probes": probes}
        out["method"] = method
        if rollbacks:
            out["rollbacks"] = rollbacks
        refs = sorted({m for m in re.findall(r"\$\{([^}]+)\}", str(out)) if ":" not in m and m not in self.env})
        if refs:
            self.left_out.append("references to targets or --var (" + ", ".join(refs) + "): left as they are; "
                                 "define them under configuration:")
        return out


def to_ctk(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """A chaosrunner experiment file (one experiment) in Chaos Toolkit's form, and what could not be said.
    The file is validated first (a ConfigError names what is wrong); references stay unresolved."""
    from chaosrunner.read.documents import read_experiments

    read_experiments(path)
    raw, marks = read_document(path)
    if is_ctk_experiment(raw):
        raise ConfigError("already a Chaos Toolkit experiment", marks.at(()),
                          "`chaosrunner convert FILE` (without --to ctk) shows its chaosrunner form")
    if "experiments" in raw:
        raise ConfigError("a file of several experiments has no single Chaos Toolkit form", marks.at(("experiments",)),
                          "put the experiment to convert in a file of its own")
    conv = _ToCtk()
    return conv.experiment(raw), conv.left_out
