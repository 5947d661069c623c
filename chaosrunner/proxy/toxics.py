"""Toxic definitions: the types, their attributes, and parsing of toxic create/update bodies.

A :class:`ToxicSpec` is what the API shows and what each connection's pipeline is built from. The
validation order is the real server's (``ToxicCollection.AddToxicJson``): bad JSON, wrapper field
types, invalid stream, default name ``<type>_<stream>``, unknown type, duplicate name (409), then the
attributes decoded against the type's fields. What each toxic does to traffic is in ``stages.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaosrunner.proxy import gojson
from chaosrunner.proxy.errors import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
    ApiError,
)
from chaosrunner.proxy.gojson import Field

UPSTREAM, DOWNSTREAM = "upstream", "downstream"
#: Toxics are listed upstream chain first, then downstream, as the real server does.
DIRECTIONS = (UPSTREAM, DOWNSTREAM)


@dataclass(frozen=True)
class ToxicType:
    """A registered toxic type: its Go struct name and its attributes (all default to 0)."""

    name: str
    go_struct: str
    attributes: tuple[Field, ...]

    def defaults(self) -> dict[str, int]:
        return {f.name: 0 for f in self.attributes}


TOXIC_TYPES: dict[str, ToxicType] = {t.name: t for t in (
    ToxicType("noop", "NoopToxic", ()),
    ToxicType("latency", "LatencyToxic", (Field("latency", "int64"), Field("jitter", "int64"))),
    ToxicType("bandwidth", "BandwidthToxic", (Field("rate", "int64"),)),
    ToxicType("slow_close", "SlowCloseToxic", (Field("delay", "int64"),)),
    ToxicType("timeout", "TimeoutToxic", (Field("timeout", "int64"),)),
    ToxicType("reset_peer", "ResetToxic", (Field("timeout", "int64"),)),
    ToxicType("slicer", "SlicerToxic", (Field("average_size", "int"), Field("size_variation", "int"),
                                        Field("delay", "int"))),
    ToxicType("limit_data", "LimitDataToxic", (Field("bytes", "int64"),)),
)}

_WRAPPER_FIELDS = [Field("attributes", "toxics.NoopToxic"), Field("name", "string"), Field("type", "string"),
                   Field("stream", "string"), Field("toxicity", "float32")]
_UPDATE_GO_TYPE = 'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }'


@dataclass
class ToxicSpec:
    """One toxic on a proxy, as the API shows it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        # Field order of Go's ToxicWrapper: the embedded toxic (attributes) comes first.
        toxicity: float | int = int(self.toxicity) if float(self.toxicity).is_integer() else self.toxicity
        return {"attributes": dict(self.attributes), "name": self.name, "type": self.type,
                "stream": self.stream, "toxicity": toxicity}


def _parse(raw: bytes) -> Any:
    try:
        return gojson.parse(raw)
    except gojson.SyntaxErrorMessage as exc:
        raise BAD_REQUEST_BODY.joined(str(exc)) from None


def _decode_attributes(attrs: Any, toxic_type: ToxicType, into: dict[str, int], *, anonymous: bool) -> None:
    """Decode ``attributes`` into a typed toxic, raising Go's message on a type mismatch."""
    error = gojson.decode_struct(attrs, list(toxic_type.attributes), into, struct=toxic_type.go_struct,
                                 go_type=f"toxics.{toxic_type.go_struct}", path="attributes")
    if error is not None and anonymous and not isinstance(attrs, dict):
        # The update body decodes into an anonymous struct: Go names no struct in that message.
        error = gojson.unmarshal_error(gojson.kind_of(attrs), f"toxics.{toxic_type.go_struct}", "", "attributes")
    if error is not None:
        raise BAD_REQUEST_BODY.joined(error)


def parse_new_toxic(raw: bytes, exists: Callable[[str], bool]) -> ToxicSpec:
    """Parse a ``POST /proxies/{proxy}/toxics`` body; ``exists(name)`` says whether a name is taken."""
    body = _parse(raw)
    wrapper: dict[str, Any] = {"name": "", "type": "", "stream": DOWNSTREAM, "toxicity": 1.0}
    error = gojson.decode_struct(body, _WRAPPER_FIELDS, wrapper, struct="ToxicWrapper",
                                 go_type="toxics.ToxicWrapper")
    if error is not None:
        raise BAD_REQUEST_BODY.joined(error)
    stream = wrapper["stream"]
    if stream.lower() not in DIRECTIONS:
        raise INVALID_STREAM
    name = wrapper["name"] or f"{wrapper['type']}_{stream}"
    toxic_type = TOXIC_TYPES.get(wrapper["type"])
    if toxic_type is None:
        raise INVALID_TOXIC_TYPE
    if exists(name):
        raise TOXIC_ALREADY_EXISTS
    attributes = toxic_type.defaults()
    _found, attrs = gojson.find_key(body, "attributes")
    _decode_attributes(attrs, toxic_type, attributes, anonymous=False)
    return ToxicSpec(name=name, type=toxic_type.name, stream=stream, toxicity=wrapper["toxicity"],
                     attributes=attributes)


def parse_toxic_update(raw: bytes, current: ToxicSpec) -> ToxicSpec:
    """Parse a ``PATCH /proxies/{proxy}/toxics/{toxic}`` body into an updated copy of ``current``.

    Only ``attributes`` (merged over the current ones) and ``toxicity`` can change, as in the real server.
    """
    body = _parse(raw)
    if body is not None and not isinstance(body, dict):
        raise BAD_REQUEST_BODY.joined(gojson.unmarshal_error(gojson.kind_of(body), _UPDATE_GO_TYPE))
    toxic_type = TOXIC_TYPES[current.type]
    attributes = dict(current.attributes)
    values: dict[str, Any] = {"toxicity": current.toxicity}
    first_error: str | None = None
    for key, value in (body or {}).items():
        lowered = key.lower()
        if lowered == "attributes":
            try:
                _decode_attributes(value, toxic_type, attributes, anonymous=True)
            except ApiError as exc:
                first_error = first_error or exc.message
        elif lowered == "toxicity":
            error = gojson.decode_struct({"toxicity": value}, [Field("toxicity", "float32")], values,
                                         struct="", go_type=_UPDATE_GO_TYPE)
            if error is not None:
                first_error = first_error or BAD_REQUEST_BODY.joined(error).message
    if first_error is not None:
        raise ApiError(first_error, 400)
    return ToxicSpec(name=current.name, type=current.type, stream=current.stream,
                     toxicity=values["toxicity"], attributes=attributes)
