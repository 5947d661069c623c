"""YAML → typed model, with file, line and column in every error.

The only module where raw dicts exist. ``parse_yaml`` keeps every node's position (PyYAML's
composed nodes carry marks) in a ``Marks`` map keyed by the path of keys and indexes;
``validate`` runs pydantic and turns each error into a ``ConfigError`` at the position of the
offending key or value, with a fix: a "did you mean" for misspelt keys, the list of known
types for an unknown ``type``, the expected form for a bad duration.
"""
from __future__ import annotations

import copy
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from chaosrunner.errors import suggest, ConfigError, ConfigErrors, Location
from chaosrunner.units import quote
from chaosrunner.model.base import FieldError
from chaosrunner.model.vocabulary import Installed
from chaosrunner.read.files import UnreadableFile, read_text
from chaosrunner.read.risks import check_risk_ids

Path_ = tuple[Any, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Marks:
    """Positions of the nodes of one YAML document: path → (line, column), 1-based."""

    file: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, key: bool = False) -> Location:
        """The location of ``path`` (or of its nearest ancestor that has one)."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return Location(self.file, *table[p])
            if p in self.values:
                return Location(self.file, *self.values[p])
            p = p[:-1]
        return Location(self.file, *self.values.get((), (1, 1)))


#: Half of a UTF-16 pair: a "\uD800" escape yields one, which no report, log or run.json could be written with.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: More values than any experiment or inventory holds; a file that expands beyond it is an alias bomb.
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader whose aliases keep their own position (a shallow copy of the anchored node)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_names: dict[int, str] = {}     # id of an alias's node → the alias's name

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event = self.peek_event()
        # the copy shares ``value`` with its anchor: an alias inside the collection it names is
        # caught while that collection is being constructed
        alias = copy.copy(super().compose_node(parent, index))
        if alias is not None:
            alias.start_mark = event.start_mark
            self.alias_names[id(alias)] = event.anchor
        return alias


@dataclass
class _Walk:
    """State of one construction: the budget of values and the collections being built (cycles)."""

    marks: Marks
    loader: _Loader
    count: int = 0
    open: set[int] = field(default_factory=set)
    alias: yaml.Node | None = None            # the alias most recently expanded

    def where(self, node: yaml.Node) -> Location:
        return Location(self.marks.file, node.start_mark.line + 1, node.start_mark.column + 1)


def _construct(node: yaml.Node, path: Path_, walk: _Walk) -> Any:
    walk.count += 1
    alias = walk.loader.alias_names.get(id(node))
    if alias is not None:
        walk.alias = node
    if walk.count > MAX_VALUES:
        last = walk.alias or node
        raise ConfigError(f"the file expands to more than {MAX_VALUES} values"
                          + (f" (aliases such as *{walk.loader.alias_names[id(last)]} here repeat their "
                             "anchor's content)" if walk.alias else ""),
                          walk.where(last),
                          "YAML aliases (*name) repeat the content of their anchor (&name) each time they "
                          "are used: write the content out")
    walk.marks.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return _scalar(node, walk)
    if id(node.value) in walk.open:
        raise ConfigError(f"the alias *{alias} refers to a list or mapping that contains it (a cycle)",
                          walk.where(node), "an alias cannot stand inside its own anchor (&name): write the value out")
    walk.open.add(id(node.value))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_construct(item, path + (i,), walk) for i, item in enumerate(node.value)]
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("a key must be a single value (a name or a number), not a list or mapping",
                                  walk.where(key_node), "write the key as plain text")
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<:) are not supported", walk.where(key_node),
                                  "write the keys out in this mapping")
            key = _scalar(key_node, walk)
            if key in out:
                raise ConfigError(f"key {key!r} appears twice in the same mapping", walk.where(key_node),
                                  "remove one of them: YAML would silently keep only the last")
            walk.marks.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _construct(value_node, path + (key,), walk)
        return out
    finally:
        walk.open.discard(id(node.value))


def _scalar(node: yaml.Node, walk: _Walk) -> Any:
    """A scalar's value; a value its tag cannot hold (``!!int abc``, ``!!timestamp 2020-13-45``, an
    integer of 5,000 digits) is a located error, not a crash."""
    try:
        value = walk.loader.construct_object(node, deep=True)
        if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
            raise ConfigError("an escape (\\uD800 to \\uDFFF) stands for half a character, not one",
                              walk.where(node), "write the character itself, or its \\U escape (\\U0001F600)")
        return value
    except (yaml.YAMLError, ConfigError):
        raise                           # located by parse_yaml
    except Exception as exc:            # noqa: BLE001 - ValueError, KeyError, AttributeError: PyYAML's own words
        kind = str(node.tag).rsplit(":", 1)[-1]
        text = str(node.value)
        shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"
        reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else f"not a valid {kind}"
        mark = node.start_mark
        tagged = mark.buffer is not None and mark.buffer[mark.index:mark.index + 1] == "!"
        raise ConfigError(f"cannot read {shown} as {'an' if kind[0] in 'aeiou' else 'a'} {kind} ({reason})",
                          walk.where(node),
                          f"write a valid {kind}, or remove the !!{kind} tag" if tagged else
                          "write a shorter value, or quote it to keep it as text") from None


def _here(loader: _Loader | None, file: str) -> Location:
    """Where the loader stopped (the file alone before it started)."""
    if loader is None:
        return Location(file)
    mark = loader.get_mark()
    return Location(file, mark.line + 1, mark.column + 1)


def parse_yaml(text: str, file: str) -> tuple[Any, Marks]:
    """Parse one YAML document, returning plain data and the marks of every node."""
    marks = Marks(file)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)          # it checks the characters: inside the try
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("the file is empty", Location(file, 1, 1),
                              "write an experiment: see `chaosrunner schema`")
        data = _construct(node, (), _Walk(marks, loader))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"the file holds a control character (#x{code:04x}) that YAML does not allow",
                          Location(file, line, column), "remove it: a YAML file is text (is this a binary file?)") \
            from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.context_mark is not None:
            problem += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise ConfigError(f"invalid YAML: {problem}", where,
                          "check the indentation and quoting around this line") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(file)) from None
    except RecursionError:
        raise ConfigError("the file nests lists or mappings too deeply to read", _here(loader, file),
                          "an experiment needs a few levels of nesting, not hundreds: check the brackets") from None
    except ConfigError:
        raise
    except Exception as exc:            # noqa: BLE001 - PyYAML's scanner raises plain errors too: chr() of "\U1e400000"
        problem = "an escape (\\U...) names no character" if "chr()" in str(exc) else str(exc)
        raise ConfigError(f"invalid YAML: {problem}", _here(loader, file),
                          "check the escapes (\\x, \\u, \\U) and quoting around this line") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, marks


def read_yaml(path: Path) -> tuple[Any, Marks]:
    """Read and parse a YAML (or JSON) file the user named: a regular file of bounded size only."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}", None, "check the path") from None
    except UnreadableFile as exc:
        raise ConfigError(exc.problem, Location(str(path), exc.line, exc.column), exc.hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", Location(str(path)),
                          "check the path and its permissions") from None
    return parse_yaml(text, str(path))


# -- pydantic errors → ConfigErrors -------------------------------------------------------------

def _unwrap(tp: Any) -> list[Any]:
    """The concrete classes an annotation may hold (through Optional, Union, Annotated, list, and the
    installed vocabulary: the fault models of every installed driver, the target with their handles)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        installed = next((m for m in typing.get_args(tp)[1:] if isinstance(m, Installed)), None)
        return installed.models() if installed is not None else _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [c for a in typing.get_args(tp) for c in _unwrap(a)]
    return [tp]


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk a pydantic error location down the model classes; the model the last key belongs to."""
    current: list[Any] = [root]
    for elem in loc[:-1]:
        nxt: list[Any] = []
        for tp in current:
            for cls in _unwrap(tp):
                origin = typing.get_origin(cls)
                if isinstance(cls, type) and issubclass(cls, BaseModel):
                    fields = cls.model_fields
                    if elem in fields:
                        nxt.append(fields[elem].annotation)
                    else:
                        for f in fields.values():
                            if f.alias == elem:
                                nxt.append(f.annotation)
                    # a union tag in the location names the member class by its 'type' literal
                    tag = fields.get("type")
                    if tag is not None and elem in typing.get_args(tag.annotation):
                        nxt.append(cls)
                elif origin in (list, tuple) and isinstance(elem, int):
                    nxt.extend(typing.get_args(cls)[:1])
                elif origin is dict:
                    nxt.extend(typing.get_args(cls)[1:2])
        if nxt:
            current = nxt
    for tp in current:
        for cls in _unwrap(tp):
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                return cls
    return None


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Keep the parts of a pydantic location that exist in the data (drops union tags)."""
    path: list[Any] = []
    cur = data
    for elem in loc:
        in_list = isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur)
        if (isinstance(cur, dict) and elem in cur) or in_list:
            path.append(elem)
            cur = cur[elem]
    return tuple(path)


def _known_keys(cls: type[BaseModel] | None) -> list[str]:
    if cls is None:
        return []
    return [f.alias or n for n, f in cls.model_fields.items()]




def _convert(err: dict[str, Any], data: Any, marks: Marks, root: type[BaseModel]) -> ConfigError:
    loc = tuple(err["loc"])
    kind = err["type"]
    hint = None
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):         # a model validator naming the field it is about
        loc, hint = loc + cause.path, cause.hint
    path = _data_path(data, loc)
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        key = loc[-1]
        known = _known_keys(_model_at(root, loc))
        near = suggest(str(key), known)
        msg = f"unknown key {key!r}"
        hint = (f"did you mean {near!r}?" if near else
                ("allowed here: " + ", ".join(known)) if known else "remove it")
        return ConfigError(msg, marks.at(path, key=True), hint)
    if kind == "missing":
        key = loc[-1]
        msg = f"missing required key {key!r}"
        hint = f"add `{key}:` here"
        return ConfigError(msg, marks.at(path), hint)
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = ctx.get("tag")
        near = suggest(str(tag), tags)
        what = "fault" if "action" in loc else "probe" if "probe" in loc else "item"
        msg = f"unknown {what} type {quote(tag)}"
        hint = (f"did you mean {near!r}? " if near else "") + "known types: " + ", ".join(tags)
        return ConfigError(msg, marks.at(path + ("type",)), hint)
    if kind == "union_tag_not_found":
        return ConfigError("this entry has no `type:`", marks.at(path), "add `type:` (see `chaosrunner schema`)")
    if kind in ("literal_error", "enum"):
        got = err.get("input")
        expected = str(err.get("ctx", {}).get("expected", ""))
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        near = suggest(str(got), options)
        msg = f"{quote(got)} is not allowed here; expected {expected}"
        hint = f"did you mean {near!r}?" if near else None
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        msg = f"{msg} (got {quote(err.get('input'))})"
    elif kind == "too_short" and err.get("ctx", {}).get("actual_length") == 0:
        msg = "the list is empty"
    field_name = next((e for e in reversed(path) if isinstance(e, str)), None)   # not a union tag
    hint = hint or _hint(kind, msg, field_name, err)
    if field_name and kind not in ("literal_error",) and not (isinstance(cause, FieldError) and cause.path):
        msg = f"{field_name}: {msg}"
    return ConfigError(msg, marks.at(path), hint)


_EXAMPLES = {"url": "http://127.0.0.1:8080/health", "name": "db-failover", "target": "web", "api": "http://127.0.0.1:8474"}
_ITEMS = {"experiments": "experiment", "method": "step (an action:, pause: or probe:)"}


def _hint(kind: str, msg: str, field_name: str | None, err: dict[str, Any]) -> str | None:
    """How to fix a type or length error pydantic reports without one."""
    got = err.get("input")
    key = f"{field_name}: " if field_name else ""
    if kind in ("string_type", "str_type"):
        if isinstance(got, (list, dict)):
            return f"write a single string here, not a {'list' if isinstance(got, list) else 'mapping'}"
        example = _EXAMPLES.get(str(field_name), str(got)[:40] if got is not None else "...")
        return f'write a string such as {key}"{example}" (quote it if it looks like a number)'
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"write a whole number, e.g. {key}8080"
    if kind in ("float_type", "float_parsing"):
        return f"write a number, e.g. {key}0.5"
    if kind in ("bool_type", "bool_parsing"):
        return f"write {key}true or {key}false"
    if kind == "list_type":
        return f"write a list: {key}[a, b], or one `- item` per line below"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"write a mapping here ({field_name or 'key'}: followed by indented key: value lines)"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        item = _ITEMS.get(str(field_name), "entry")
        under = f" under {field_name}:" if field_name else ""
        if kind == "too_short":
            return f"list at least {'one' if bound == 1 else bound} {item}{under}"
        return f"list at most {bound} {item}{under}"
    if kind in ("string_too_short",):
        return f"write a non-empty value, e.g. {key}{_EXAMPLES.get(str(field_name), '...')}"
    if kind == "string_pattern_mismatch" and field_name == "name":
        return "use letters, digits, '-', '_', '.' and spaces, starting with a letter or digit"
    if kind == "value_error" and isinstance(got, (list, dict)):
        found = re.search(r"such as (\S+)", msg)
        return f"write one value here, not a {'list' if isinstance(got, list) else 'mapping'}" + (
            f", e.g. {key}{found.group(1).rstrip(',;')}" if found else "")
    return None


def validate(model: type[M], data: Any, marks: Marks) -> M:
    """Validate ``data`` into ``model``; every error becomes a located ConfigError (all reported)."""
    try:
        # a model's `risks:` is checked against the register that applies to the file being read
        return model.model_validate(data, context={"check_risk_ids": check_risk_ids(marks.file)})
    except ValidationError as exc:
        raw: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False)]
        paths = [_data_path(data, tuple(e["loc"])) for e in raw]
        # A union (`command: str | list[str]`) fails once per member: when one member's error lies
        # deeper in the value (an item of the list), the value had that member's shape, and the
        # other member's "wrong type" for the whole value is noise.
        keep = [i for i, e in enumerate(raw)
                if not (str(e["type"]).endswith("_type")
                        and any(len(q) > len(paths[i]) and q[:len(paths[i])] == paths[i] for q in paths))]
        errors = [_convert(raw[i], data, marks, model) for i in keep]
        # one message per place: pydantic reports a failed union once per member
        unique: dict[str, ConfigError] = {}
        for e in errors:
            unique.setdefault(e.render(), e)
        errs = sorted(unique.values(), key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
        raise (errs[0] if len(errs) == 1 else ConfigErrors(errs)) from None
