"""Toxic attribute decoding, validation of Toxiproxy's crashers, slicing, address rules."""

from __future__ import annotations

import pytest

from harness.faults.proxy import addr, gojson
from harness.faults.proxy.stages import Dice, slice_bounds
from harness.faults.proxy.toxics import TOXIC_TYPES, decode_attributes, parse_direction, validate


def attrs(type_name: str, body: bytes) -> dict[str, object]:
    toxic_type = TOXIC_TYPES[type_name]
    return decode_attributes(toxic_type, gojson.decode_first_value(body), dict(toxic_type.defaults))


def test_defaults_merge_and_unknown_keys():
    assert attrs("latency", b'{"LATENCY":5,"other":1,"jitter":null}') == {"latency": 5, "jitter": 0}
    assert attrs("http_error", b"null")["status"] == 500


@pytest.mark.parametrize(
    ("type_name", "body"),
    [
        ("bandwidth", b'{"rate":-1}'),
        ("latency", b'{"latency":-1}'),
        ("latency", b'{"jitter":-1}'),
        ("slicer", b"{}"),
        ("slicer", b'{"average_size":0,"size_variation":0}'),
        ("slicer", b'{"average_size":10,"size_variation":10}'),
        ("slicer", b'{"average_size":10,"size_variation":-1}'),
        ("http_error", b'{"status":99}'),
        ("http_error", b'{"retry_after":-1}'),
    ],
)
def test_crashers_are_rejected(type_name, body):
    assert validate(TOXIC_TYPES[type_name], attrs(type_name, body)) is not None


def test_accepted_edge_values():
    assert validate(TOXIC_TYPES["bandwidth"], attrs("bandwidth", b'{"rate":0}')) is None
    assert validate(TOXIC_TYPES["limit_data"], attrs("limit_data", b'{"bytes":-5}')) is None


def test_stream_parsing_is_case_insensitive():
    assert parse_direction("UpStream") is not None
    assert parse_direction("") is None


def test_slicer_without_variation_is_deterministic():
    cuts = slice_bounds(1000, 100, 0, Dice(1))
    sizes = [end - start for start, end in zip([0, *cuts], cuts, strict=False)]
    assert len(sizes) == 16 and set(sizes) <= {62, 63} and cuts[-1] == 1000


def test_slicer_pieces_stay_in_range():
    dice = Dice(3)
    for length in (1, 2, 10, 999, 65536):
        cuts = slice_bounds(length, 7, 6, dice)
        assert cuts == sorted(cuts) and cuts[-1] == length
        sizes = [end - start for start, end in zip([0, *cuts], cuts, strict=False)]
        assert min(sizes) >= 1 and max(sizes) <= 7 + 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [("localhost:80", "127.0.0.1:80"), (":0", ":0"), ("[::1]:5", "[::1]:5"), ("127.0.0.1:0", "127.0.0.1:0")],
)
def test_resolve_like_go(text, expected):
    assert addr.resolve_string(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bad", "address bad: missing port in address"),
        ("a:b:c", "address a:b:c: too many colons in address"),
        ("127.0.0.1:99999", "address 127.0.0.1:99999: invalid port"),
    ],
)
def test_address_errors_like_go(text, message):
    with pytest.raises(addr.AddressError, match=f"^{message}$"):
        addr.resolve(text)


def test_bind_reports_the_bound_port():
    sock, bound = addr.bind_listener("127.0.0.1:0")
    with sock:
        assert bound == f"127.0.0.1:{sock.getsockname()[1]}"
    wildcard, bound = addr.bind_listener(":0")
    with wildcard:
        assert bound.startswith(("[::]:", "0.0.0.0:"))
