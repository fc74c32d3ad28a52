"""Go-like JSON decoding and encoding rules of the proxy API (spec §2.3-2.4)."""

from __future__ import annotations

import pytest

from harness.faults.proxy import gojson
from harness.faults.proxy.gojson import DecodeError


def test_first_value_only_and_whitespace():
    assert gojson.lookup(gojson.decode_first_value(b' \n{"a":1} {"b":2}'), "a") == (True, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b"  \r\n", "EOF"),
        (b'{"a":', "unexpected EOF"),
        (b"{bad", "invalid character 'b' looking for beginning of object key string"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
    ],
)
def test_syntax_errors_read_like_go(body, message):
    with pytest.raises(DecodeError, match=f"^{message}$"):
        gojson.decode_first_value(body)


def test_keys_match_case_insensitively_last_wins():
    obj = gojson.decode_first_value(b'{"name":"a","NAME":"b"}')
    assert gojson.get_str(obj, "name", "Proxy") == "b"


def test_null_means_absent():
    obj = gojson.decode_first_value(b'{"enabled":null}')
    assert gojson.get_bool(obj, "enabled", "Proxy") is None
    assert gojson.expect_object(None, "T") == []


@pytest.mark.parametrize("literal", ["1.5", "1e3", "1.0", '"1"', "true", "99999999999999999999"])
def test_ints_reject_non_integers(literal):
    value = gojson.decode_first_value(literal.encode())
    with pytest.raises(DecodeError, match=r"cannot unmarshal .* into Go struct field T\.x of type int64"):
        gojson.check_int(value, "T.x")


def test_type_mismatch_message():
    obj = gojson.decode_first_value(b'{"enabled":"yes"}')
    with pytest.raises(DecodeError) as info:
        gojson.get_bool(obj, "enabled", "Proxy")
    assert str(info.value) == "json: cannot unmarshal string into Go struct field Proxy.enabled of type bool"


def test_float32_fields_round_and_print_shortest():
    obj = gojson.decode_first_value(b'{"toxicity":0.1}')
    value = gojson.get_float32(obj, "toxicity", "T")
    assert value != 0.1 and gojson.format_float32(value) == "0.1"
    assert gojson.format_float32(1.0) == "1"
    assert gojson.format_float32(0.5) == "0.5"
    assert gojson.format_float32(1e-7) == "1e-7"
    with pytest.raises(DecodeError):
        gojson.get_float32(gojson.decode_first_value(b'{"t":1e39}'), "t", "T")


def test_encode_is_compact_and_escapes_html():
    assert (
        gojson.encode({"a<b": [1, True, None, "&"], "t": 1.0})
        == '{"a\\u003cb":[1,true,null,"\\u0026"],"t":1}'
    )
