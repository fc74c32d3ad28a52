"""The HTTP API against spec §2-3: shapes, status codes, error bodies, decoding rules.

Every error case ends by checking that the server still serves (a follow-up request works).
"""

from __future__ import annotations

import re
import socket

import pytest


def still_serving(api) -> None:
    answer = api("GET", "/version")
    assert answer.status_code == 200
    assert answer.text == '{"version": "0.1.0"}\n'


def error_of(answer) -> str:
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text.endswith("\n")
    body = answer.json()
    assert body["status"] == answer.status_code
    return str(body["error"])


# -- routing and middlewares -------------------------------------------------------------------


def test_version_shape(api):
    answer = api("GET", "/version")
    assert answer.headers["Content-Type"] == "application/json;charset=utf-8"
    assert re.fullmatch(r"[0-9a-v]{20}", answer.headers["X-Toxiproxy-Request-Id"])


def test_unknown_path_is_plain_404_without_request_id(api):
    for path in ("/nope", "/proxies/", "/proxies/a/b/c/d/e"):
        answer = api("GET", path)
        assert answer.status_code == 404
        assert answer.text == "404 page not found\n"
        assert "X-Toxiproxy-Request-Id" not in answer.headers


def test_wrong_method_is_empty_405(api):
    for method, path in (
        ("PUT", "/proxies"),
        ("HEAD", "/version"),
        ("DELETE", "/reset"),
        ("OPTIONS", "/proxies"),
    ):
        answer = api(method, path)
        assert answer.status_code == 405, (method, path)
        assert answer.content == b""
    still_serving(api)


def test_browser_user_agent_is_blocked(api):
    answer = api("GET", "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert answer.status_code == 403
    assert answer.text == "User agent not allowed\n"
    assert api("GET", "/proxies", headers={"User-Agent": "curl/8"}).status_code == 200


def test_unclean_path_redirects(server):
    host, port = server.address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"GET /proxies/../version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = sock.makefile("rb").read().decode()
    assert head.startswith("HTTP/1.1 301 ")
    assert "\r\nLocation: /version\r\n" in head


def test_url_decoded_names(api, echo):
    api.proxy("my proxy", echo.port)
    assert api("GET", "/proxies/my%20proxy").json()["name"] == "my proxy"


# -- proxies -----------------------------------------------------------------------------------


def test_create_resolves_listen_and_lists_sorted(api, echo):
    api.proxy("b", echo.port)
    api.proxy("a", echo.port)
    listing = api("GET", "/proxies")
    assert listing.headers["Content-Type"] == "application/json"
    assert list(listing.json()) == ["a", "b"]
    proxy = listing.json()["a"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", proxy["listen"]) and not proxy["listen"].endswith(":0")
    assert proxy["Logger"] == {} and proxy["toxics"] == [] and proxy["enabled"] is True


def test_create_disabled_keeps_listen_verbatim(api, echo):
    body = {"name": "off", "listen": "bad", "upstream": f"127.0.0.1:{echo.port}", "enabled": False}
    answer = api("POST", "/proxies", json=body)
    assert answer.status_code == 201
    assert answer.json()["listen"] == "bad" and answer.json()["enabled"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "bad request body: EOF"),
        (b"{bad", "bad request body: invalid character 'b' looking for beginning of object key string"),
        (b"null", "missing required field: name"),
        (b'{"name":"x"}', "missing required field: upstream"),
        (
            b'{"name":"x","upstream":"u:1","enabled":"yes"}',
            "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
        ),
    ],
)
def test_create_bad_bodies(api, body, message):
    answer = api("POST", "/proxies", data=body)
    assert answer.status_code == 400
    assert error_of(answer) == message
    still_serving(api)


def test_decoding_is_go_like(api, echo):
    body = b'{"NAME":"ci","Upstream":"127.0.0.1:%d","listen":"127.0.0.1:0"} trailing garbage' % echo.port
    answer = api("POST", "/proxies", data=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "ci"


def test_duplicate_proxy_conflicts(api, echo):
    api.proxy("dup", echo.port)
    answer = api("POST", "/proxies", json={"name": "dup", "upstream": "x:1", "listen": "127.0.0.1:0"})
    assert answer.status_code == 409
    assert error_of(answer) == "proxy already exists"


def test_taken_listen_address_is_500_and_proxy_not_added(api, echo):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        body = {"name": "clash", "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{echo.port}"}
        answer = api("POST", "/proxies", json=body)
    assert answer.status_code == 500
    assert error_of(answer) == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert api("GET", "/proxies/clash").status_code == 404
    still_serving(api)


def test_missing_port_is_500_with_go_text(api, echo):
    answer = api("POST", "/proxies", json={"name": "np", "listen": "local373", "upstream": "x:1"})
    assert answer.status_code == 500
    assert error_of(answer) == "listen tcp: address local373: missing port in address"


def test_unknown_proxy_is_404(api):
    for method, path in (("GET", "/proxies/x"), ("DELETE", "/proxies/x"), ("GET", "/proxies/x/toxics")):
        answer = api(method, path)
        assert answer.status_code == 404
        assert error_of(answer) == "proxy not found"


def test_patch_proxy_defaults_to_current_values(api, echo, tcp_server):
    port = api.proxy("p", echo.port)
    answer = api("PATCH", "/proxies/p", json={"enabled": False})
    assert answer.json()["listen"] == f"127.0.0.1:{port}"
    answer = api("POST", "/proxies/p", json={"enabled": True})  # deprecated POST works too
    assert answer.json()["enabled"] is True and answer.json()["listen"] == f"127.0.0.1:{port}"
    answer = api("PATCH", "/proxies/p", json={"upstream": "127.0.0.1:1"})
    assert answer.json()["upstream"] == "127.0.0.1:1" and answer.json()["enabled"] is True
    answer = api("PATCH", "/proxies/p", json={"listen": "bad"})
    assert answer.status_code == 500
    assert error_of(answer) == "address bad: missing port in address"


def test_reset_enables_proxies_and_removes_toxics(api, echo):
    api.proxy("r", echo.port)
    api.toxic("r", "latency", {"latency": 10})
    api("PATCH", "/proxies/r", json={"enabled": False})
    answer = api("POST", "/reset")
    assert answer.status_code == 204 and answer.content == b""
    proxy = api("GET", "/proxies/r").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []


# -- populate ----------------------------------------------------------------------------------


def test_populate_create_keep_replace(api, echo):
    upstream = f"127.0.0.1:{echo.port}"
    assert api("POST", "/populate", json=[]).text == '{"proxies":null}'
    answer = api("POST", "/populate", json=[{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream}])
    assert answer.status_code == 201
    listen = answer.json()["proxies"][0]["listen"]
    api.toxic("a", "latency", {"latency": 1})
    api("PATCH", "/proxies/a", json={"enabled": False})
    # same listen and upstream: untouched, even its enabled state and its toxics
    same = [{"name": "a", "listen": listen, "upstream": upstream, "enabled": True}]
    kept = api("POST", "/populate", json=same).json()["proxies"][0]
    assert kept["enabled"] is False and len(kept["toxics"]) == 1
    # different upstream: replaced by a new proxy without toxics
    other = [{"name": "a", "listen": listen, "upstream": "127.0.0.1:1"}]
    replaced = api("POST", "/populate", json=other).json()["proxies"][0]
    assert replaced["toxics"] == [] and replaced["enabled"] is True and replaced["upstream"] == "127.0.0.1:1"


def test_populate_validates_everything_first(api, echo):
    body = [
        {"name": "ok", "listen": "127.0.0.1:0", "upstream": "x:1"},
        {"name": "bad", "listen": "127.0.0.1:0"},
    ]
    answer = api("POST", "/populate", json=body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api("GET", "/proxies").json() == {}


def test_populate_stops_at_a_listen_error(api):
    body = [
        {"name": "c", "listen": "127.0.0.1:0", "upstream": "x:1"},
        {"name": "d", "listen": "local373", "upstream": "x:1"},
        {"name": "e", "listen": "127.0.0.1:0", "upstream": "x:1"},
    ]
    answer = api("POST", "/populate", json=body)
    assert answer.status_code == 500
    assert answer.json()["error"] == "listen tcp: address local373: missing port in address"
    assert [proxy["name"] for proxy in answer.json()["proxies"]] == ["c"]
    assert sorted(api("GET", "/proxies").json()) == ["c"]


def test_populate_needs_an_array(api):
    answer = api("POST", "/populate", json={})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("bad request body: json: cannot unmarshal object into Go value")
    assert answer.json()["proxies"] is None
    still_serving(api)


# -- toxics ------------------------------------------------------------------------------------


def test_toxic_defaults_and_order(api, echo):
    api.proxy("t", echo.port)
    toxic = api.toxic("t", "latency", {}, stream="UpStream")
    assert toxic == {
        "attributes": {"latency": 0, "jitter": 0},
        "name": "latency_UpStream",
        "type": "latency",
        "stream": "UpStream",
        "toxicity": 1,
    }
    api.toxic("t", "noop", {}, toxicity=0.5)
    api.toxic("t", "slow_close", {}, stream="upstream")
    names = [t["name"] for t in api("GET", "/proxies/t/toxics").json()]
    assert names == ["latency_UpStream", "slow_close_upstream", "noop_downstream"]
    assert api("GET", "/proxies/t/toxics/noop_downstream").json()["toxicity"] == 0.5


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "nope"}, 400, "invalid toxic type"),
        ({"type": "down"}, 400, "invalid toxic type"),
        ({"type": "latency", "stream": ""}, 400, "stream was invalid, can be either upstream or downstream"),
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            {"type": "latency", "attributes": {"latency": 1.5}},
            400,
            "bad request body: json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.latency "
            "of type int64",
        ),
        (
            {"type": "latency", "attributes": {"latency": "1"}},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.latency of type int64",
        ),
        ({"type": "latency", "toxicity": "high"}, 400, None),
        (
            {"type": "bandwidth", "attributes": {"rate": -1}},
            400,
            "invalid bandwidth toxic: attribute rate must be >= 0 (got -1)",
        ),
        ({"type": "latency", "attributes": {"latency": -5}}, 400, None),
        ({"type": "latency", "attributes": {"jitter": -5}}, 400, None),
        ({"type": "slicer", "attributes": {}}, 400, None),
        ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, 400, None),
        ({"type": "slicer", "attributes": {"average_size": 0, "size_variation": 0}}, 400, None),
        ({"type": "http_error", "attributes": {"status": 42}}, 400, None),
        ({"type": "http_error", "stream": "downstream"}, 400, None),
    ],
)
def test_bad_toxics_are_400_and_server_keeps_serving(api, echo, body, status, message):
    port = api.proxy("bad", echo.port)
    answer = api("POST", "/proxies/bad/toxics", data=__import__("json").dumps(body))
    assert answer.status_code == status, answer.text
    text = error_of(answer)
    if message is not None:
        assert text == message
    assert api("GET", "/proxies/bad/toxics").json() == []
    still_serving(api)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # data path unharmed
        sock.sendall(b"ok")
        assert sock.recv(2) == b"ok"


def test_int_attributes_reject_floats_bools_and_exponents(api, echo):
    api.proxy("ints", echo.port)
    for raw in (b"1e3", b"true", b"1.0"):
        body = b'{"type":"latency","attributes":{"latency":%s}}' % raw
        assert api("POST", "/proxies/ints/toxics", data=body).status_code == 400, raw


def test_toxic_name_conflicts_across_streams(api, echo):
    api.proxy("c", echo.port)
    api.toxic("c", "latency", {}, name="same", stream="upstream")
    answer = api("POST", "/proxies/c/toxics", json={"type": "noop", "name": "same", "stream": "downstream"})
    assert answer.status_code == 409
    assert error_of(answer) == "toxic already exists"


def test_patch_toxic_merges_attributes(api, echo):
    api.proxy("m", echo.port)
    api.toxic("m", "latency", {"latency": 100, "jitter": 10}, toxicity=0.7)
    answer = api("PATCH", "/proxies/m/toxics/latency_downstream", json={"attributes": {"latency": 200}})
    assert answer.status_code == 200
    assert answer.json()["attributes"] == {"latency": 200, "jitter": 10}
    assert answer.json()["toxicity"] == pytest.approx(0.7)
    answer = api("POST", "/proxies/m/toxics/latency_downstream", json={"toxicity": 0})
    assert answer.json()["toxicity"] == 0 and answer.json()["attributes"]["latency"] == 200
    bad = api("PATCH", "/proxies/m/toxics/latency_downstream", json={"attributes": {"jitter": -1}})
    assert bad.status_code == 400
    assert api("GET", "/proxies/m/toxics/latency_downstream").json()["attributes"]["jitter"] == 10


def test_missing_toxic_is_404_before_the_body(api, echo):
    api.proxy("n", echo.port)
    for method in ("GET", "PATCH", "DELETE"):
        answer = api(method, "/proxies/n/toxics/nothing", data=b"{garbage")
        assert answer.status_code == 404
        assert error_of(answer) == "toxic not found"
