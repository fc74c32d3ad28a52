"""Go ``encoding/json``-like decoding and encoding for the proxy API.

Toxiproxy decodes request bodies with Go's ``json.NewDecoder(body).Decode(&v)``; clients written
against it rely on those rules, so the API mirrors them:

* only the **first JSON value** is read, trailing bytes are ignored; an empty body is ``EOF``;
* ``null`` means "no fields", and a ``null`` field leaves the field at its default;
* object keys match field names **case-insensitively**, the last matching key wins;
* type mismatches are errors, worded like Go's (``json: cannot unmarshal string into Go struct
  field Proxy.enabled of type bool``); integers reject ``1.5``, ``1e3``, ``"1"`` and ``true``.

Objects are decoded to :class:`Obj` (the key/value pairs in document order) so that the
case-insensitive, last-wins lookup of Go can be reproduced. Encoding follows ``json.Marshal``:
compact, ``<``, ``>``, ``&`` escaped, float32 numbers in their shortest form (``1``, ``0.5``).
"""

from __future__ import annotations

import json
import math
import re
import struct
from decimal import Decimal
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
_GO_WHITESPACE = " \t\r\n"


class DecodeError(ValueError):
    """A body could not be decoded; ``str()`` is the Go-style reason (without API prefix)."""


class Obj(list[tuple[str, Any]]):
    """A decoded JSON object: its key/value pairs in document order (duplicates kept)."""


class FloatLit(float):
    """A JSON number written with a fraction or exponent; keeps its literal for error messages."""

    text: str

    def __new__(cls, text: str) -> FloatLit:
        value = super().__new__(cls, float(text))
        value.text = text
        return value


def _reject_constant(name: str) -> Any:
    raise DecodeError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(object_pairs_hook=Obj, parse_float=FloatLit, parse_constant=_reject_constant)

_SYNTAX_HINTS = (
    ("Expecting value", "looking for beginning of value"),
    ("Expecting property name", "looking for beginning of object key string"),
    ("Expecting ':' delimiter", "after object key"),
    ("Expecting ',' delimiter", "after object key:value pair"),
)


def _syntax_message(exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(exc.doc):
        return "unexpected EOF"
    char = exc.doc[exc.pos]
    for python_msg, go_tail in _SYNTAX_HINTS:
        if exc.msg.startswith(python_msg):
            return f"invalid character {char!r} {go_tail}"
    return f"invalid character {char!r} ({exc.msg})"


def decode_first_value(body: bytes) -> Any:
    """Decode the first JSON value of ``body`` like ``json.Decoder.Decode`` (trailing bytes ignored)."""
    text = body.decode("utf-8", errors="replace")
    start = 0
    while start < len(text) and text[start] in _GO_WHITESPACE:
        start += 1
    if start == len(text):
        raise DecodeError("EOF")
    try:
        value, _end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise DecodeError(_syntax_message(exc)) from None
    return value


def json_kind(value: Any) -> str:
    """Go's name of a JSON value's kind, as used in unmarshal errors (numbers carry their literal)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, FloatLit):
        return f"number {value.text}"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Obj):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _type_error(value: Any, where: str, go_type: str) -> DecodeError:
    kind = json_kind(value)
    if go_type in ("bool", "string") and kind.startswith("number"):
        kind = "number"
    return DecodeError(f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}")


def expect_object(value: Any, go_type: str) -> Obj:
    """Return ``value`` as an object (``null`` → empty), else Go's top-level type error."""
    if value is None:
        return Obj()
    if not isinstance(value, Obj):
        kind = json_kind(value).split(" ")[0]
        raise DecodeError(f"json: cannot unmarshal {kind} into Go value of type {go_type}")
    return value


def lookup(obj: Obj, field: str) -> tuple[bool, Any]:
    """Find ``field`` in ``obj`` the Go way: case-insensitive key match, the last one wins."""
    folded = field.casefold()
    found: tuple[bool, Any] = (False, None)
    for key, value in obj:
        if key == field or key.casefold() == folded:
            found = (True, value)
    return found


def get_str(obj: Obj, field: str, struct_name: str) -> str | None:
    """The string value of ``field``; ``None`` when absent or ``null``."""
    present, value = lookup(obj, field)
    if not present or value is None:
        return None
    if not isinstance(value, str):
        raise _type_error(value, f"{struct_name}.{field}", "string")
    return value


def get_bool(obj: Obj, field: str, struct_name: str) -> bool | None:
    """The boolean value of ``field``; ``None`` when absent or ``null``."""
    present, value = lookup(obj, field)
    if not present or value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(value, f"{struct_name}.{field}", "bool")
    return value


def check_int(value: Any, where: str, go_type: str = "int64") -> int:
    """Validate a JSON value for a Go integer field: an integer literal within int64."""
    if isinstance(value, (bool, FloatLit)) or not isinstance(value, int):
        raise _type_error(value, where, go_type)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _type_error(value, where, go_type)
    return value


def get_float32(obj: Obj, field: str, struct_name: str) -> float | None:
    """The value of a Go ``float32`` field, rounded to float32; ``None`` when absent or ``null``."""
    present, value = lookup(obj, field)
    if not present or value is None:
        return None
    where = f"{struct_name}.{field}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(value, where, "float32")
    if abs(float(value)) > FLOAT32_MAX:
        raise _type_error(value, where, "float32")
    return to_float32(float(value))


def to_float32(value: float) -> float:
    """Round a Python float to the nearest float32 (what Go stores in a ``float32`` field)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def format_float32(value: float) -> str:
    """Shortest text that reads back as the same float32, in Go's JSON layout (``1``, ``0.5``)."""
    value = to_float32(value)
    if value == 0:
        return "0"
    text = repr(value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if to_float32(float(text)) == value:
            break
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(text), "f")
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)


_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def encode_string(text: str) -> str:
    """A JSON string literal as Go writes it (UTF-8 kept, HTML-sensitive characters escaped)."""
    return json.dumps(text, ensure_ascii=False).translate(_ESCAPES)


def encode(value: Any) -> str:
    """Compact JSON like ``json.Marshal``; Python floats are treated as Go ``float32``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"unsupported value: {value}")
        return format_float32(value)
    if isinstance(value, str):
        return encode_string(value)
    if isinstance(value, dict):
        items = (f"{encode_string(str(key))}:{encode(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")
