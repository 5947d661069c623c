"""References in experiment and inventory files, resolved before anything runs.

- ``${api.url}``, ``${postgres-primary.toxiproxy.proxy}``: a field of a target in the inventory;
- ``${env:NAME}``: an environment variable (a secret: never written out);
- ``${file:path}``: a file's content, stripped (a secret; relative to the file that names it);
- ``${var:name}``: a value given on the command line with ``--var name=value``;
- ``$${`` writes a literal ``${``.

References are resolved before typed fields are read, so ``duration: "${var:d}"`` is a duration;
an error about a value that came from a reference names both (``cannot read 'abc' (from
${var:d}) as a duration``, at the value's line and column: ``Resolver.explain``).

Secrets are collected in ``Secrets``, each value with the reference it came from. Two ways out:

- ``redact`` / ``redact_obj`` / ``clip``: for everything a person or a file sees (terminal, run.json,
  reports, Locust's files). Every occurrence of every secret is covered, overlapping ones included;
  ``clip`` redacts *then* truncates, so a cut can never leave part of a secret behind;
- ``referenced`` / ``referenced_obj``: for what must be resolved again later (the fault ledger, which
  ``chaosrunner recover`` reads after a ``kill -9``; the values handed to Locust): each secret value
  is written as its reference (``${env:TOKEN}``, ``${file:/abs/path}``) and every literal ``$`` as
  ``$$`` (so that no text next to a reference can change how it reads: the written form's grammar is
  stricter than the one people write), and ``resolve_secret_references`` gives back exactly the
  resolved text, with the same
  environment and files, and nothing secret is ever on disk. Only secret references are kept:
  targets' fields and ``--var`` values are written resolved (``recover`` has no ``--var``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrunner.errors import ConfigError, ConfigErrors, suggest
from chaosrunner.read.files import read_text
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
    """The secret values of one experiment (or one ledger entry), each with the reference it came from."""

    values: set[str] = field(default_factory=set)
    refs: dict[str, str] = field(default_factory=dict)      # value → "${env:NAME}" / "${file:/abs/path}"

    def add(self, value: str, ref: str | None = None) -> None:
        if value:
            self.values.add(value)
            if ref is not None:
                self.refs.setdefault(value, ref)

    def update(self, other: Secrets) -> None:
        """Add every secret of ``other`` (an inventory's, shared by several experiments)."""
        self.values |= other.values
        for value, ref in other.refs.items():
            self.refs.setdefault(value, ref)

    def __bool__(self) -> bool:
        return bool(self.values)

    # -- for people and files: redacted ------------------------------------------------------
    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Every occurrence of every secret (overlapping ones too), merged into disjoint spans."""
        spans: list[tuple[int, int]] = []
        for v in self.values:
            i = text.find(v)
            while i >= 0:
                spans.append((i, i + len(v)))
                i = text.find(v, i + 1)
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    def redact(self, text: str) -> str:
        """``text`` with every character of every secret occurrence gone (each run of them: ``***``)."""
        if not self.values or not text:
            return text
        spans = self._spans(text)
        if not spans:
            return text
        out, at = [], 0
        for a, b in spans:
            out += [text[at:a], REDACTED]
            at = b
        out.append(text[at:])
        return "".join(out)

    def redact_obj(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(v) for v in obj]
        return obj

    def named(self, text: str) -> str:
        """``text`` with each secret value shown as the reference it came from (``***`` when not known): a
        label that says which secret, not what it is. Nothing is escaped: not meant to be resolved."""
        if not self.values or not text:
            return text
        out, at = [], 0
        for a, b in self._spans(text):
            piece = text[a:b]
            out += [text[at:a], self.refs.get(piece, REDACTED)]
            at = b
        out.append(text[at:])
        return "".join(out)

    def clip(self, text: str, limit: int) -> str:
        """Redacted, then cut to ``limit`` characters: the only order in which a cut cannot split a secret."""
        text = self.redact(text)
        return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."

    def scrub(self, exc: BaseException) -> BaseException:
        """Redact, in place, the text an exception carries (its args and message/hint/detail/reason), so
        that whoever prints it (the command line's one-line error) prints no secret. Returns it."""
        if not self.values:
            return exc
        exc.args = tuple(self.redact_obj(a) if isinstance(a, (str, list, tuple, dict)) else a for a in exc.args)
        for name in ("message", "hint", "detail", "reason"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                try:
                    setattr(exc, name, self.redact(value))
                except AttributeError:
                    pass
        for inner in getattr(exc, "errors", None) or []:
            if isinstance(inner, BaseException):
                self.scrub(inner)
        return exc

    # -- for what is resolved again later: referenced ----------------------------------------------
    def referenced(self, text: str) -> str:
        """``text`` with each secret value written as its reference and each literal ``$`` as ``$$``:
        ``resolve_secret_references`` turns it back into ``text``. A value whose reference is not known
        (a secret given as a bare value) is redacted instead: it cannot be resolved again, and must not
        be written."""
        if not self.values:
            return text.replace("$", "$$")
        spans = self._spans(text)
        out, at = [], 0
        for a, b in spans:
            out.append(text[at:a].replace("$", "$$"))
            piece = text[a:b]
            out.append(self.refs[piece] if piece in self.refs else
                       self._referenced_run(piece))
            at = b
        out.append(text[at:].replace("$", "$$"))
        return "".join(out)

    def _referenced_run(self, piece: str) -> str:
        """A merged span that is not one whole secret (overlapping or adjacent ones): each secret in it,
        longest first, as its reference; what cannot be referenced is redacted."""
        for value in sorted(self.values, key=len, reverse=True):
            if value in self.refs and value in piece:
                head, _, tail = piece.partition(value)
                return self.referenced(head) + self.refs[value] + self.referenced(tail)
        return REDACTED

    def referenced_obj(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.referenced(obj)
        if isinstance(obj, dict):
            return {k: self.referenced_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.referenced_obj(v) for v in obj]
        return obj


class StreamRedactor:
    """Redacts a stream of text (a child process' output, as it comes) without ever splitting a secret:
    it keeps back the last characters that could be the start of one until the next chunk (or the end)
    says what they are."""

    def __init__(self, secrets: Secrets):
        self.secrets = secrets
        self._held = ""

    def feed(self, text: str) -> str:
        """What can be written now of everything fed so far, redacted."""
        buf = self._held + text
        longest = max((len(v) for v in self.secrets.values), default=0)
        cut = len(buf) - max(0, longest - 1)
        if cut <= 0:
            self._held = buf
            return ""
        # an occurrence that starts before the cut ends within buf (it is at most `longest` long): move the
        # cut past it, so that it is redacted whole now
        for a, b in self.secrets._spans(buf):
            if a < cut < b:
                cut = b
        self._held = buf[cut:]
        return self.secrets.redact(buf[:cut])

    def flush(self) -> str:
        """The rest, redacted (the stream has ended)."""
        rest, self._held = self._held, ""
        return self.secrets.redact(rest)


_SECRET_REF = re.compile(r"\$\$|\$\{(env|file):([^}]*)\}|\$\{([^}]*)\}")


def resolve_secret_references(obj: Any, secrets: Secrets | None = None) -> Any:
    """The inverse of ``Secrets.referenced_obj``: ``${env:NAME}`` and ``${file:/abs/path}`` resolved with
    this process' environment and files, ``$$`` back to ``$``. Each value resolved is added to
    ``secrets`` (so what the caller prints can be redacted). A variable that is not set, or a file that
    cannot be read, is a ConfigError naming it."""
    if isinstance(obj, dict):
        return {k: resolve_secret_references(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [resolve_secret_references(v, secrets) for v in obj]
    if not isinstance(obj, str) or "$" not in obj:
        return obj

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group(1) is None:
            raise ConfigError(f"{m.group(0)} is not a secret reference (only ${{env:...}} and ${{file:...}} are "
                              "written unresolved)")
        kind, name = m.group(1), m.group(2)
        if kind == "env":
            if name not in os.environ:
                raise ConfigError(f"environment variable {name} is not set (needed by ${{env:{name}}})",
                                  hint=f"export {name} (as the run had it), then try again")
            value = os.environ[name]
        else:
            try:
                value = read_text(name).strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {name} (needed by ${{file:{name}}}): "
                                  f"{exc.strerror or exc}", hint="restore the file (as the run had it), then try again"
                                  ) from None
        if secrets is not None:
            secrets.add(value, m.group(0))
        return value

    return _SECRET_REF.sub(sub, obj)


def written_locations(data: Any, marks: Marks, path: tuple[Any, ...] = ()) -> set[tuple[int, int]]:
    """(line, column) of every string in ``data`` that holds a reference: a typed field there can only be
    judged once resolved."""
    if isinstance(data, str):
        if "${" not in data:
            return set()
        at = marks.at(path)
        return {(at.line, at.column)}
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    out: set[tuple[int, int]] = set()
    for k, v in items:
        out |= written_locations(v, marks, path + (k,))
    return out


def judged_once_resolved(exc: ConfigError, written: set[tuple[int, int]]) -> ConfigError | None:
    """``exc`` (one error or several) without the errors about values that hold references — those are
    checked again once resolved (``duration: "${var:d}"`` is no duration until it is); None if none is left."""
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    left = [e for e in errors if e.location is None or (e.location.line, e.location.column) not in written]
    if not left:
        return None
    return left[0] if len(left) == 1 else ConfigErrors(left)


@dataclass
class Resolver:
    base_dir: Path
    marks: Marks
    secrets: Secrets
    inventory: Inventory | None = None
    variables: dict[str, str] = field(default_factory=dict)
    # path → (the string as written, what it resolved to): errors about the value name the reference
    written: dict[tuple[Any, ...], tuple[str, Any]] = field(default_factory=dict)

    def resolve(self, data: Any, path: tuple[Any, ...] = ()) -> Any:
        if isinstance(data, str):
            value = self._string(data, path)
            if value is not data and _REF.search(data.replace("$${", "")):
                self.written[path] = (data, value)
            return value
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
            self.secrets.add(value, f"${{env:{name}}}")
            return value
        if ref.startswith("file:"):
            file = (self.base_dir / os.path.expanduser(ref[5:])).resolve()
            try:
                value = read_text(file).strip()     # a regular file of bounded size: never /dev/zero, a FIFO
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {file}: {exc.strerror or exc}", where,
                                  "check the path (relative to this file)") from None
            self.secrets.add(value, f"${{file:{file}}}")
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

    def explain(self, exc: ConfigError) -> ConfigError:
        """``exc`` (raised while validating what this resolver resolved) as the user needs it: an error about
        a value that came from a reference names the reference after the value (``cannot read 'abc'
        (from ${var:d}) as a duration``), and no message or hint shows a secret."""
        at: dict[tuple[int, int], tuple[str, Any]] = {}
        for path, origin in self.written.items():
            where = self.marks.at(path)
            at[(where.line, where.column)] = origin
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        out = []
        for e in errors:
            message = e.message
            found = at.get((e.location.line, e.location.column)) if e.location else None
            if found is not None:
                text, value = found
                shown = repr(value)
                message = (message.replace(shown, f"{shown} (from {text})", 1) if shown in message
                           else f"{message} (from {text})")
            out.append(ConfigError(self.secrets.redact(message), e.location,
                                   self.secrets.redact(e.hint) if e.hint else e.hint))
        return out[0] if len(out) == 1 else ConfigErrors(out)

