"""Toxic types: their attributes, defaults, validation, and the toxic record the API stores.

Toxiproxy stores any attribute value and crashes or wedges later on some of them (Toxiproxy:
``bandwidth`` with a negative rate, ``slicer`` sizes that recurse forever, ...). Here every type
declares its attributes once, and :func:`validate` turns those inputs into a ``400`` before
anything reaches a live connection. The runtime behaviour of each type lives in
:mod:`harness.faults.proxy.stages`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from harness.faults.proxy import gojson

AttrValue = int | str
Attributes = dict[str, AttrValue]


class Direction(Enum):
    """Which stream a toxic acts on."""

    UPSTREAM = "upstream"  #: client → upstream server bytes
    DOWNSTREAM = "downstream"  #: upstream server → client bytes


def parse_direction(stream: str) -> Direction | None:
    """Parse a ``stream`` value case-insensitively (``"UpStream"`` is accepted); ``None`` if invalid."""
    lowered = stream.lower()
    for direction in Direction:
        if direction.value == lowered:
            return direction
    return None


DEFAULT_HTTP_ERROR_BODY = '{"error":{"type":"injected_fault","message":"injected by chaos-audit proxy"}}'


def _non_negative(*names: str) -> Callable[[Attributes], str | None]:
    def check(attrs: Attributes) -> str | None:
        for name in names:
            value = attrs[name]
            if isinstance(value, int) and value < 0:
                return f"attribute {name} must be >= 0 (got {value})"
        return None

    return check


def _check_slicer(attrs: Attributes) -> str | None:
    average, variation = attrs["average_size"], attrs["size_variation"]
    assert isinstance(average, int) and isinstance(variation, int)
    if average <= 0:
        return f"attribute average_size must be > 0 (got {average})"
    if not 0 <= variation < average:
        return f"attribute size_variation must be >= 0 and < average_size (got {variation})"
    return _non_negative("delay")(attrs)


def _check_http_error(attrs: Attributes) -> str | None:
    status = attrs["status"]
    assert isinstance(status, int)
    if not 200 <= status <= 599:
        return f"attribute status must be an HTTP status between 200 and 599 (got {status})"
    return _non_negative("retry_after")(attrs)


@dataclass(frozen=True, kw_only=True)
class ToxicType:
    """A registered toxic type: Go struct name (for error texts), attributes and their check."""

    name: str
    go_struct: str
    defaults: tuple[tuple[str, AttrValue], ...] = ()
    check: Callable[[Attributes], str | None] | None = None
    upstream_only: bool = False


TOXIC_TYPES: dict[str, ToxicType] = {
    toxic_type.name: toxic_type
    for toxic_type in (
        ToxicType(name="noop", go_struct="NoopToxic"),
        ToxicType(
            name="latency",
            go_struct="LatencyToxic",
            defaults=(("latency", 0), ("jitter", 0)),
            check=_non_negative("latency", "jitter"),
        ),
        ToxicType(
            name="bandwidth", go_struct="BandwidthToxic", defaults=(("rate", 0),), check=_non_negative("rate")
        ),
        ToxicType(
            name="slow_close",
            go_struct="SlowCloseToxic",
            defaults=(("delay", 0),),
            check=_non_negative("delay"),
        ),
        ToxicType(
            name="timeout",
            go_struct="TimeoutToxic",
            defaults=(("timeout", 0),),
            check=_non_negative("timeout"),
        ),
        ToxicType(
            name="reset_peer",
            go_struct="ResetToxic",
            defaults=(("timeout", 0),),
            check=_non_negative("timeout"),
        ),
        ToxicType(
            name="slicer",
            go_struct="SlicerToxic",
            defaults=(("average_size", 0), ("size_variation", 0), ("delay", 0)),
            check=_check_slicer,
        ),
        ToxicType(name="limit_data", go_struct="LimitDataToxic", defaults=(("bytes", 0),)),
        ToxicType(
            name="http_error",
            go_struct="HttpErrorToxic",
            defaults=(("status", 500), ("body", DEFAULT_HTTP_ERROR_BODY), ("retry_after", 0)),
            check=_check_http_error,
            upstream_only=True,
        ),
    )
}


def decode_attributes(toxic_type: ToxicType, raw: object, base: Attributes) -> Attributes:
    """Merge a decoded ``attributes`` object into ``base`` with Go's typing rules.

    Unknown keys are ignored, ``null`` keeps the current value; a wrong JSON type raises
    :class:`~harness.faults.proxy.gojson.DecodeError`.
    """
    obj = gojson.expect_object(raw, f"toxics.{toxic_type.go_struct}")
    merged = dict(base)
    for name, default in toxic_type.defaults:
        present, value = gojson.lookup(obj, name)
        if not present or value is None:
            continue
        where = f"{toxic_type.go_struct}.{name}"
        if isinstance(default, str):
            text = gojson.get_str(obj, name, toxic_type.go_struct)
            merged[name] = text if text is not None else default
        else:
            merged[name] = gojson.check_int(value, where)
    return merged


def validate(toxic_type: ToxicType, attrs: Attributes) -> str | None:
    """Reject values that would crash or wedge a data path; ``None`` when acceptable."""
    if toxic_type.check is None:
        return None
    reason = toxic_type.check(attrs)
    return f"invalid {toxic_type.name} toxic: {reason}" if reason else None


@dataclass(kw_only=True)
class Toxic:
    """A toxic as stored on a proxy; mutable because PATCH updates attributes and toxicity in place.

    ``order`` is a per-proxy creation sequence: chains are kept in creation order, and a
    connection uses it to continue a chunk at the right stage after the chain changed.
    """

    name: str
    type: ToxicType
    stream: str
    direction: Direction
    toxicity: float
    attributes: Attributes = field(default_factory=dict)
    order: int = 0

    def to_json(self) -> dict[str, object]:
        """The API shape, in Go's field order."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type.name,
            "stream": self.stream,
            "toxicity": float(self.toxicity),
        }
