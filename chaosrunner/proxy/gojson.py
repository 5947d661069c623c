"""Decode request bodies as Go's ``encoding/json`` does, with its error messages.

Toxiproxy's clients (and people reading its errors) see the messages Go's decoder writes:
``bad request body: EOF``, ``invalid character 'x' looking for beginning of value``,
``json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64``.
This module reproduces the parts of that behaviour the API relies on:

- only the first JSON value of the body is read (trailing bytes are ignored, as ``Decoder.Decode``);
- object keys match struct fields exactly or case-insensitively; the last duplicate wins;
- ``null`` leaves a field unchanged; unknown keys are ignored;
- a type mismatch does not stop decoding: the first one is reported after the whole value is read;
- integers are parsed from the literal text (``1.5`` or ``1e2`` are not an int64, as in Go);
- invalid UTF-8 and escaped lone surrogates in object keys and strings become U+FFFD, as in Go.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38


class FloatLiteral(float):
    """A JSON number that was not a plain integer, keeping its literal text for error messages."""

    text: str

    def __new__(cls, text: str) -> FloatLiteral:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


class _Constant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Constant(name)


_DECODER = json.JSONDecoder(parse_float=FloatLiteral, parse_constant=_reject_constant)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _go_strings(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys and string values have Go's U+FFFD for each escaped lone surrogate
    (``"\\ud800"``): Python keeps the surrogate, which no UTF-8 answer could then carry."""
    return {LONE_SURROGATE.sub("\ufffd", key): LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str)
            else value for key, value in pairs}


_REPAIRING_DECODER = json.JSONDecoder(parse_float=FloatLiteral, parse_constant=_reject_constant,
                                      object_pairs_hook=_go_strings)


class SyntaxErrorMessage(ValueError):
    """The body is not JSON; the message is what Go's decoder would say."""


_GO_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
               0x5C: "\\\\"}


def _quote_char(c: str) -> str:
    """Go's ``quoteChar``: the scanner reports a byte, shown as the rune of that value (0xC3 is 'Ã')
    through ``strconv.Quote`` (control characters escaped, \\x00 style below 0x20 and for 0x7F)."""
    byte = c.encode("utf-8", "surrogateescape")[0] if c else 0x20
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    if byte in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[byte]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if 0x80 <= byte <= 0xA0 or byte == 0xAD:  # not printable for Go's strconv.IsPrint
        return f"'\\u{byte:04x}'"
    return f"'{chr(byte)}'"


def _innermost_container(doc: str, pos: int) -> str:
    depth: list[str] = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth.append(ch)
        elif ch in "]}" and depth:
            depth.pop()
    return depth[-1] if depth else ""


def _syntax_message(doc: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    if pos >= len(doc) or exc.msg.startswith("Unterminated"):
        return "unexpected EOF"
    char = _quote_char(doc[pos])
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if exc.msg.startswith("Expecting ','"):
        where = "object key:value pair" if _innermost_container(doc, pos) == "{" else "array element"
        return f"invalid character {char} after {where}"
    if exc.msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    if exc.msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote_char(doc[pos + 1:pos + 2] or ' ')} in string escape code"
    return f"invalid character {char} looking for beginning of value"


def parse(raw: bytes) -> Any:
    """The first JSON value of ``raw``; raises :class:`SyntaxErrorMessage` with Go's wording."""
    try:
        doc = raw.decode("utf-8")
        repair = _SURROGATE_ESCAPE.search(doc) is not None
    except UnicodeDecodeError:
        # one lone surrogate per invalid byte: U+FFFD in the strings (as Go), the byte in error messages
        doc, repair = raw.decode("utf-8", "surrogateescape"), True
    start = len(doc) - len(doc.lstrip(" \t\r\n"))
    if start == len(doc):
        raise SyntaxErrorMessage("EOF")
    try:
        decoder = _REPAIRING_DECODER if repair else _DECODER
        value, _end = decoder.raw_decode(doc, start)
    except _Constant as exc:
        name = str(exc)
        if name.startswith("-"):  # -Infinity: Go's scanner took the minus sign as a number's
            raise SyntaxErrorMessage(f"invalid character {_quote_char(name[1])} in numeric literal") from None
        raise SyntaxErrorMessage(f"invalid character {_quote_char(name[0])} looking for beginning of value") from None
    except json.JSONDecodeError as exc:
        raise SyntaxErrorMessage(_syntax_message(doc, exc)) from None
    except RecursionError:
        raise SyntaxErrorMessage("exceeded max depth") from None
    return value


def kind_of(value: Any) -> str:
    """Go's name for a JSON value's kind in ``cannot unmarshal <kind>`` messages."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


@dataclass(frozen=True)
class Field:
    """One struct field: its JSON name and Go type.

    Types: ``string``, ``bool``, ``int64``, ``int``, ``float32``, or ``toxics.<Name>`` for a nested
    struct kept as a dict (decoded later, once the toxic's type is known).
    """

    name: str
    go_type: str


def _number_text(value: Any) -> str:
    return value.text if isinstance(value, FloatLiteral) else str(value)


def _convert(value: Any, go_type: str) -> tuple[Any, str | None]:
    """(converted value, None) or (None, the ``cannot unmarshal`` value description)."""
    kind = kind_of(value)
    if go_type == "string":
        return (value, None) if kind == "string" else (None, kind)
    if go_type == "bool":
        return (value, None) if kind == "bool" else (None, kind)
    if go_type.startswith("toxics."):
        return (value, None) if kind == "object" else (None, kind)
    if kind != "number":
        return None, kind
    if go_type in ("int64", "int"):
        if isinstance(value, FloatLiteral) or not INT64_MIN <= value <= INT64_MAX:
            return None, f"number {_number_text(value)}"
        return int(value), None
    if go_type == "float32":
        number = float(value)
        if abs(number) > FLOAT32_MAX:
            return None, f"number {_number_text(value)}"
        return number, None
    raise ValueError(f"unsupported Go type {go_type}")


def unmarshal_error(value_desc: str, go_type: str, struct: str | None = None, path: str = "") -> str:
    """Go's ``UnmarshalTypeError.Error()``."""
    if struct is None and not path:
        return f"json: cannot unmarshal {value_desc} into Go value of type {go_type}"
    return f"json: cannot unmarshal {value_desc} into Go struct field {struct or ''}.{path} of type {go_type}"


def decode_struct(obj: Any, fields: list[Field], target: dict[str, Any], *, struct: str, go_type: str,
                  path: str = "") -> str | None:
    """Decode ``obj`` into ``target`` (field name -> value) as Go decodes into a struct.

    Returns the first type error message, or None. ``struct`` is the Go struct name used in field
    errors, ``go_type`` the full type name used when ``obj`` itself is not an object, ``path`` the
    field path of ``obj`` inside the outer value ("" at top level).
    """
    if obj is None:
        return None
    if not isinstance(obj, dict):
        if path:
            return unmarshal_error(kind_of(obj), go_type, struct, path)
        return unmarshal_error(kind_of(obj), go_type)
    by_name = {f.name: f for f in fields}
    by_fold = {f.name.lower(): f for f in fields}
    first_error: str | None = None
    for key, value in obj.items():
        field = by_name.get(key) or by_fold.get(key.lower())
        if field is None or value is None:
            continue
        converted, bad = _convert(value, field.go_type)
        if bad is not None:
            if first_error is None:
                where = f"{path}.{field.name}" if path else field.name
                first_error = unmarshal_error(bad, field.go_type, struct, where)
            continue
        target[field.name] = converted
    return first_error


def find_key(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) for ``name`` in ``obj`` with Go's matching (exact, then case-insensitive; last wins)."""
    found, value = False, None
    for key, item in obj.items():
        if key == name or key.lower() == name:
            found, value = True, item
    return found, value
