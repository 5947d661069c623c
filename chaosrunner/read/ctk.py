"""Plain Chaos Toolkit experiments (JSON or YAML) run as they are, translated into our format.

The translation is mechanical: the steady-state hypothesis' probes become ``provider`` probes
with their tolerances; method actions become ``provider`` actions, method probes one-off
probe steps, ``pauses`` become pause steps; rollbacks become rollback actions; ``ref``
activities are looked up by name. Chaos Toolkit substitutes ``${key}`` from its
``configuration`` and ``secrets``: plain values are substituted here, ``{"type": "env", "key":
K}`` entries become chaosrunner's ``${env:K}`` (so they are treated as secrets and redacted).
"""
from __future__ import annotations

import re
from typing import Any

from chaosrunner.errors import ConfigError, Location

_PROVIDER_KEYS = {"type", "module", "func", "path", "url", "method", "arguments", "timeout", "headers",
                  "expected_status", "secrets"}


def is_ctk_experiment(data: Any) -> bool:
    return isinstance(data, dict) and "title" in data and "method" in data and "name" not in data


def _values(data: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in (data.get("configuration") or {}).items():
        values[key] = _value(value)
    for scope in (data.get("secrets") or {}).values():
        if isinstance(scope, dict):
            for key, value in scope.items():
                values[key] = _value(value)
    return values


def _value(value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "env":
        return "${env:%s}" % value["key"]
    if isinstance(value, dict):
        raise ValueError(f"configuration entries of type {value.get('type')!r} are not supported")
    return str(value)


def _substitute(obj: Any, values: dict[str, str]) -> Any:
    if isinstance(obj, str):
        return re.sub(r"\$\{([^}:]+)\}", lambda m: values.get(m.group(1), "$${" + m.group(1) + "}"), obj)
    if isinstance(obj, dict):
        return {k: _substitute(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, values) for v in obj]
    return obj


def convert(data: dict[str, Any], file: str) -> dict[str, Any]:
    """A Chaos Toolkit experiment as a chaosrunner experiment (raw data, ready to validate)."""
    try:
        values = _values(data)
    except ValueError as exc:
        raise ConfigError(str(exc), Location(file), "use plain values or {type: env, key: NAME}") from None
    data = _substitute(data, values)
    by_name: dict[str, dict[str, Any]] = {}

    def resolve(activity: dict[str, Any]) -> dict[str, Any]:
        if "ref" in activity:
            if activity["ref"] not in by_name:
                raise ConfigError(f"activity reference {activity['ref']!r} names no earlier activity", Location(file))
            return by_name[activity["ref"]]
        by_name[activity.get("name", "")] = activity
        return activity

    def provider(activity: dict[str, Any]) -> dict[str, Any]:
        prov = activity.get("provider")
        if not isinstance(prov, dict):
            raise ConfigError(f"activity {activity.get('name')!r} has no provider", Location(file))
        return {k: v for k, v in prov.items() if k in _PROVIDER_KEYS}

    def pause(seconds: Any) -> dict[str, Any]:
        return {"pause": float(seconds)}

    def steps(activities: list[dict[str, Any]], rollback: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw in activities:
            act = resolve(raw)
            pauses = act.get("pauses") or {}
            if pauses.get("before"):
                out.append(pause(pauses["before"]))
            spec = {"type": "provider", "name": act.get("name"), "provider": provider(act)}
            if act.get("type") == "probe" and not rollback:
                out.append({"probe": {**spec, "tolerance": act.get("tolerance")}})
            else:
                if act.get("background"):
                    spec["background"] = True
                out.append({"action": spec})
            if pauses.get("after"):
                out.append(pause(pauses["after"]))
        return out

    hypothesis = data.get("steady-state-hypothesis") or {}
    name = re.sub(r"[^A-Za-z0-9_.\- ]+", "-", str(data["title"])).strip("- ") or "chaos-toolkit-experiment"
    return {
        "name": name,
        "description": data.get("description", ""),
        "hypothesis": hypothesis.get("title", ""),
        "tags": [str(t) for t in data.get("tags", [])],
        "steady_state": [{"probe": {"type": "provider", "name": p.get("name"), "provider": provider(p),
                                    "tolerance": p.get("tolerance")}}
                         for p in map(resolve, hypothesis.get("probes", []))],
        "method": steps(data.get("method") or []),
        "rollback": steps(data.get("rollbacks") or [], rollback=True),
    }
