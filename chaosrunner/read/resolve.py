"""References in experiment and inventory files, resolved before anything runs.

- ``${api.url}``, ``${postgres-primary.toxiproxy.proxy}``: a field of a target in the inventory;
- ``${env:NAME}``: an environment variable (a secret: never written out);
- ``${file:path}``: a file's content, stripped (a secret; relative to the file that names it);
- ``${var:name}``: a value given on the command line with ``--var name=value``;
- ``$${`` writes a literal ``${``.

Secrets are collected in ``Secrets`` so results can redact every occurrence of their values.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.errors import ConfigError
from chaosrunner.errors import suggest
from chaosrunner.read.parse import Marks
from chaosrunner.model.targets import Inventory

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_UNCLOSED = re.compile(r"\$\$\{|\$\{[^}]*\}|(\$\{)")   # group 1: a ``${`` that no ``}`` closes
REDACTED = "***"


def _closed(rest: str) -> str:
    """The reference ``${<rest>`` with its ``}`` where it most likely belongs."""
    name = rest if rest.startswith("file:") else re.split(r"[^\w.:\-]", rest, maxsplit=1)[0]
    return "${" + name + "}" + rest[len(name):]


@dataclass
class Secrets:
    values: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)

    def redact(self, text: str) -> str:
        for v in sorted(self.values, key=len, reverse=True):
            text = text.replace(v, REDACTED)
        return text

    def redact_obj(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(v) for v in obj]
        return obj


@dataclass
class Resolver:
    base_dir: Path
    marks: Marks
    secrets: Secrets
    inventory: Inventory | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def resolve(self, data: Any, path: tuple[Any, ...] = ()) -> Any:
        if isinstance(data, str):
            return self._string(data, path)
        if isinstance(data, dict):
            return {k: self.resolve(v, path + (k,)) for k, v in data.items()}
        if isinstance(data, list):
            return [self.resolve(v, path + (i,)) for i, v in enumerate(data)]
        return data

    def _string(self, text: str, path: tuple[Any, ...]) -> Any:
        if "${" not in text:
            return text
        unclosed = next((m for m in _UNCLOSED.finditer(text) if m.group(1)), None)
        if unclosed is not None:
            raise ConfigError(f"{text!r}: a reference ${{... is not closed with }}", self.marks.at(path),
                              f"write {_closed(text[unclosed.end():])} (and $${{ for a literal ${{)")
        whole = _REF.fullmatch(text)
        if whole and whole.group(1) is not None:
            return self._lookup(whole.group(1).strip(), path)   # keep non-string types (ports)

        def sub(m: re.Match[str]) -> str:
            if m.group(1) is None:
                return "${"
            return str(self._lookup(m.group(1).strip(), path))

        return _REF.sub(sub, text)

    def _lookup(self, ref: str, path: tuple[Any, ...]) -> Any:
        where = self.marks.at(path)
        if ref.startswith("env:"):
            name = ref[4:]
            if name not in os.environ:
                raise ConfigError(f"environment variable {name} is not set (needed by ${{{ref}}})", where,
                                  f"export {name}=... before running, or use ${{var:...}} with --var")
            value = os.environ[name]
            self.secrets.add(value)
            return value
        if ref.startswith("file:"):
            file = (self.base_dir / os.path.expanduser(ref[5:])).resolve()
            try:
                value = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {file}: {exc.strerror or exc}", where,
                                  "check the path (relative to this file)") from None
            self.secrets.add(value)
            return value
        if ref.startswith("var:"):
            name = ref[4:]
            if name not in self.variables:
                raise ConfigError(f"no value for ${{{ref}}}", where, f"pass --var {name}=VALUE")
            return self.variables[name]
        return self._target_field(ref, where)

    def _target_field(self, ref: str, where: Any) -> Any:
        if self.inventory is None:
            raise ConfigError(f"${{{ref}}} refers to a target, but no targets inventory is given", where,
                              "add `targets: path/to/inventory.yaml` or pass --targets")
        names = sorted(self.inventory.targets, key=len, reverse=True)
        target = next((n for n in names if ref == n or ref.startswith(n + ".")), None)
        if target is None:
            head = ref.split(".")[0]
            near = suggest(head, list(self.inventory.targets))
            raise ConfigError(f"${{{ref}}}: no target {head!r} in the inventory", where,
                              f"did you mean {near!r}?" if near else
                              "targets: " + ", ".join(self.inventory.targets))
        obj: Any = self.inventory.targets[target].model_dump(exclude_none=True)
        rest = ref[len(target) + 1:].split(".") if ref != target else []
        for part in rest:
            if isinstance(obj, dict) and part in obj:
                obj = obj[part]
            elif isinstance(obj, dict) and part in obj.get("vars", {}):
                obj = obj["vars"][part]
            else:
                have = list(obj) if isinstance(obj, dict) else []
                raise ConfigError(f"${{{ref}}}: target {target!r} has no {part!r}", where,
                                  "it has: " + ", ".join(have) if have else None)
        if isinstance(obj, (dict, list)) or obj is None:
            raise ConfigError(f"${{{ref}}} is not a single value", where, "name a field, e.g. ${%s.url}" % target)
        return obj
