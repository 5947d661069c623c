"""The HTTP API over raw HTTP: every endpoint, status code and error body, as the real server answers."""
from __future__ import annotations

import json
import socket

import pytest

from chaosrunner.proxy import start_in_thread

from .helpers import Api, connect


def error(status: int, message: str) -> dict:
    return {"error": message, "status": status}


def test_version_is_json_with_a_semver(api):
    r = api.get("/version")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json;charset=utf-8"
    major, minor, patch = r.json()["version"].split(".")
    assert major == "2" and minor.isdigit() and patch.isdigit()


def test_create_show_index_and_delete_a_proxy(api, upstream):
    r = api.post("/proxies", json={"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.address})
    assert r.status_code == 201
    created = r.json()
    host, port = created["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # the bound address, not :0
    assert created == {"name": "db", "listen": created["listen"], "upstream": upstream.address,
                       "enabled": True, "toxics": []}
    assert api.get("/proxies/db").json() == created
    assert api.get("/proxies").json() == {"db": created}
    r = api.delete("/proxies/db")
    assert r.status_code == 204 and r.content == b""
    assert api.get("/proxies/db").status_code == 404
    assert api.delete("/proxies/db").json() == error(404, "proxy not found")


def test_create_errors_in_the_real_servers_order(api, upstream):
    assert api.post("/proxies", data=b"").json() == error(400, "bad request body: EOF")
    assert api.post("/proxies", data=b"{nope").json() == error(
        400, "bad request body: invalid character 'n' looking for beginning of object key string")
    assert api.post("/proxies", json=[1]).json() == error(
        400, "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy")
    assert api.post("/proxies", json={"name": 5, "upstream": "x:1"}).json() == error(
        400, "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string")
    assert api.post("/proxies", json={"name": "a", "upstream": "x:1", "enabled": "yes"}).json() == error(
        400, "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool")
    assert api.post("/proxies", json={"upstream": "x:1"}).json() == error(400, "missing required field: name")
    assert api.post("/proxies", json={"name": "a"}).json() == error(400, "missing required field: upstream")
    body = {"name": "a", "listen": "127.0.0.1:0", "upstream": upstream.address}
    assert api.post("/proxies", json=body).status_code == 201
    r = api.post("/proxies", json=body)
    assert (r.status_code, r.json()) == (409, error(409, "proxy already exists"))


def test_create_on_a_port_in_use_answers_500_with_gos_message(api, upstream):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = api.post("/proxies", json={"name": "a", "listen": f"127.0.0.1:{port}", "upstream": upstream.address})
    assert r.status_code == 500
    assert r.json() == error(500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert api.get("/proxies").json() == {}


def test_create_disabled_does_not_listen(api, upstream):
    r = api.post("/proxies", json={"name": "off", "listen": "127.0.0.1:0", "upstream": upstream.address,
                                   "enabled": False})
    assert r.status_code == 201 and r.json()["enabled"] is False and r.json()["listen"] == "127.0.0.1:0"


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_update_is_partial_and_restarts_on_new_addresses(api, upstream, make_proxy, method):
    _name, (host, port) = make_proxy("u")
    r = api.request(method, "/proxies/u", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["listen"] == f"{host}:{port}" and r.json()["upstream"] == upstream.address
    with pytest.raises(ConnectionRefusedError):
        connect((host, port), timeout=2)
    r = api.request(method, "/proxies/u", json={"enabled": True})
    assert r.json()["enabled"] is True
    connect((host, port)).close()
    r = api.request(method, "/proxies/u", json={"listen": "127.0.0.1:0"})
    new_listen = r.json()["listen"]
    assert new_listen != f"{host}:{port}" and r.json()["enabled"] is True
    with pytest.raises(ConnectionRefusedError):
        connect((host, port), timeout=2)
    assert api.request(method, "/proxies/nope", json={}).json() == error(404, "proxy not found")
    assert api.request(method, "/proxies/u", data=b"{").json() == error(400, "bad request body: unexpected EOF")


def test_populate_creates_keeps_and_replaces(api, upstream):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        fixed = f"127.0.0.1:{s.getsockname()[1]}"
    body = [{"name": "one", "listen": fixed, "upstream": upstream.address},
            {"name": "two", "listen": "127.0.0.1:0", "upstream": upstream.address, "enabled": False}]
    r = api.post("/populate", json=body)
    assert r.status_code == 201
    proxies = r.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two"]
    assert proxies[0]["listen"] == fixed and proxies[0]["enabled"] is True and proxies[1]["enabled"] is False
    api.post("/proxies/one/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    # Same name, listen and upstream: left alone (its toxic stays); changed upstream: replaced.
    r = api.post("/populate", json=[{"name": "one", "listen": fixed, "upstream": upstream.address},
                                    {"name": "two", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}])
    assert r.status_code == 201
    one, two = r.json()["proxies"]
    assert len(one["toxics"]) == 1 and two["upstream"] == "127.0.0.1:1" and two["enabled"] is True
    assert api.post("/populate", json=[]).json() == {"proxies": None}


def test_populate_errors(api, upstream):
    r = api.post("/populate", json={"name": "x"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("bad request body: json: cannot unmarshal object into Go value of type []")
    assert r.json()["proxies"] is None
    r = api.post("/populate", json=[{"name": "a", "upstream": upstream.address}, {"name": "b"}])
    assert r.json() == {"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": None}
    assert api.get("/proxies").json() == {}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = api.post("/populate", json=[{"name": "a", "listen": "127.0.0.1:0", "upstream": upstream.address},
                                        {"name": "b", "listen": f"127.0.0.1:{port}", "upstream": upstream.address}])
    assert r.status_code == 500
    assert r.json()["error"] == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert [p["name"] for p in r.json()["proxies"]] == ["a"]


def test_toxic_crud(api, make_proxy):
    make_proxy("t")
    r = api.post("/proxies/t/toxics", json={"type": "latency", "attributes": {"latency": 10}})
    assert r.status_code == 200
    assert r.json() == {"attributes": {"latency": 10, "jitter": 0}, "name": "latency_downstream",
                        "type": "latency", "stream": "downstream", "toxicity": 1}
    r = api.post("/proxies/t/toxics", json={"type": "slicer", "stream": "upstream", "name": "s", "toxicity": 0.5,
                                            "attributes": {"average_size": 10}})
    assert r.json() == {"attributes": {"average_size": 10, "size_variation": 0, "delay": 0}, "name": "s",
                        "type": "slicer", "stream": "upstream", "toxicity": 0.5}
    # Listed upstream chain first, then downstream, each in insertion order.
    assert [t["name"] for t in api.get("/proxies/t/toxics").json()] == ["s", "latency_downstream"]
    assert [t["name"] for t in api.get("/proxies/t").json()["toxics"]] == ["s", "latency_downstream"]
    assert api.get("/proxies/t/toxics/s").json()["toxicity"] == 0.5
    for method in ("POST", "PATCH"):
        r = api.request(method, "/proxies/t/toxics/latency_downstream",
                        json={"attributes": {"jitter": 3}, "toxicity": 0.25, "name": "ignored"})
        assert r.status_code == 200
        assert r.json() == {"attributes": {"latency": 10, "jitter": 3}, "name": "latency_downstream",
                            "type": "latency", "stream": "downstream", "toxicity": 0.25}
    assert api.delete("/proxies/t/toxics/s").status_code == 204
    assert api.delete("/proxies/t/toxics/latency_downstream").status_code == 204
    assert api.get("/proxies/t/toxics").json() == []


def test_every_toxic_type_is_accepted_with_its_attributes(api, make_proxy):
    make_proxy("all")
    attributes = {"latency": {"latency": 1, "jitter": 0}, "bandwidth": {"rate": 1}, "slow_close": {"delay": 1},
                  "timeout": {"timeout": 1}, "reset_peer": {"timeout": 1}, "limit_data": {"bytes": 1},
                  "slicer": {"average_size": 1, "size_variation": 0, "delay": 0}, "noop": {}}
    for kind, attrs in attributes.items():
        r = api.post("/proxies/all/toxics", json={"type": kind, "attributes": attrs})
        assert r.status_code == 200 and r.json()["attributes"] == attrs and r.json()["name"] == f"{kind}_downstream"
    assert len(api.get("/proxies/all/toxics").json()) == len(attributes)
    for kind in attributes:
        assert api.delete(f"/proxies/all/toxics/{kind}_downstream").status_code == 204
    assert api.get("/proxies/all/toxics").json() == []


def test_toxic_errors_in_the_real_servers_order(api, make_proxy):
    make_proxy("e")
    post = lambda body: api.post("/proxies/e/toxics", data=body if isinstance(body, bytes) else json.dumps(body))  # noqa: E731
    assert post(b"").json() == error(400, "bad request body: EOF")
    assert post(b"garbage").json() == error(
        400, "bad request body: invalid character 'g' looking for beginning of value")
    # invalid stream is checked before the type, the type before duplicates, duplicates before attributes
    assert post({"type": "nope", "stream": "sideways"}).json() == error(
        400, "stream was invalid, can be either upstream or downstream")
    assert post({"type": "nope"}).json() == error(400, "invalid toxic type")
    assert post({}).json() == error(400, "invalid toxic type")
    assert post({"type": "latency"}).status_code == 200
    r = post({"type": "latency", "attributes": {"latency": "x"}})
    assert (r.status_code, r.json()) == (409, error(409, "toxic already exists"))
    assert post({"type": "latency", "name": "l2", "attributes": {"latency": "x"}}).json() == error(
        400, "bad request body: json: cannot unmarshal string into Go struct field "
             "LatencyToxic.attributes.latency of type int64")
    assert post({"type": "latency", "name": "l3", "attributes": {"latency": 1.5}}).json()["error"].endswith(
        "cannot unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency of type int64")
    assert post({"type": "latency", "toxicity": "all"}).json() == error(
        400, "bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity "
             "of type float32")
    assert api.post("/proxies/missing/toxics", json={"type": "latency"}).json() == error(404, "proxy not found")
    assert api.get("/proxies/e/toxics/missing").json() == error(404, "toxic not found")
    assert api.patch("/proxies/e/toxics/missing", json={}).json() == error(404, "toxic not found")
    assert api.delete("/proxies/e/toxics/missing").json() == error(404, "toxic not found")
    assert api.patch("/proxies/e/toxics/latency_downstream", json={"attributes": {"jitter": []}}).json() == error(
        400, "bad request body: json: cannot unmarshal array into Go struct field "
             "LatencyToxic.attributes.jitter of type int64")
    assert [t["name"] for t in api.get("/proxies/e/toxics").json()] == ["latency_downstream"]
    api.delete("/proxies/e/toxics/latency_downstream")


def test_reset_enables_proxies_and_removes_toxics(api, make_proxy):
    make_proxy("r1")
    make_proxy("r2")
    api.post("/proxies/r1/toxics", json={"type": "latency"})
    api.post("/proxies/r2", json={"enabled": False})
    r = api.post("/reset")
    assert r.status_code == 204 and r.content == b""
    proxies = api.get("/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


def test_unknown_routes_and_methods_answer_like_gorilla_mux(api):
    r = api.get("/nope")
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    assert api.get("/proxies/").status_code == 404
    r = api.put("/proxies")
    assert (r.status_code, r.content) == (405, b"")
    assert api.get("/reset").status_code == 405
    assert api.get("/metrics").status_code == 404  # metrics are off unless asked


def test_errors_are_sent_as_gos_http_error_sends_them(api, upstream):
    """apiError sets application/json, then http.Error replaces it with text/plain, adds nosniff
    and a newline after the JSON body."""
    r = api.get("/proxies/absent")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.content == b'{"error":"proxy not found","status":404}\n'
    body = {"name": "e", "listen": "127.0.0.1:0", "upstream": upstream.address}
    assert api.post("/proxies", json=body).headers["Content-Type"] == "application/json"   # success: JSON
    r = api.post("/proxies", json=body)
    assert (r.status_code, r.headers["Content-Type"], r.headers["X-Content-Type-Options"]) == (
        409, "text/plain; charset=utf-8", "nosniff")
    r = api.post("/proxies/e/toxics", json={"type": "<nope>"})
    assert (r.status_code, r.content) == (400, b'{"error":"invalid toxic type","status":400}\n')


def test_metrics_off_answers_like_the_real_servers_unknown_route(api):
    r = api.get("/metrics")
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"          # Go's http.NotFound → http.Error


def test_browsers_are_refused(api):
    r = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (r.status_code, r.text) == (403, "User agent not allowed\n")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_when_enabled(upstream):
    with start_in_thread(metrics=True) as metered:
        api = Api(metered.api_url)
        r = api.post("/proxies", json={"name": "m", "listen": "127.0.0.1:0", "upstream": upstream.address})
        host, port = r.json()["listen"].rsplit(":", 1)
        with connect((host, int(port))) as sock:
            sock.sendall(b"12345")
            assert sock.recv(5) == b"12345"
        text = api.get("/metrics").text
        assert "# TYPE toxiproxy_proxy_received_bytes_total counter" in text
        assert f'toxiproxy_proxy_received_bytes_total{{direction="upstream",proxy="m",listener="{host}:{port}",' \
               f'upstream="{upstream.address}"}} 5' in text
        assert 'toxiproxy_proxy_connections_total{proxy="m"' in text


def test_bad_clients_never_kill_the_api(server, api):
    host, port = server.host, server.port
    with socket.create_connection((host, port), timeout=5) as sock:  # garbage instead of HTTP
        sock.sendall(b"\x00\xff garbage \r\n\r\n")
        assert sock.recv(100).split(b" ")[1] == b"400"
    with socket.create_connection((host, port), timeout=5) as sock:  # disconnect mid-body
        sock.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"name\":")
    with socket.create_connection((host, port), timeout=5) as sock:  # disconnect mid-headers
        sock.sendall(b"GET /proxies HTTP/1.1\r\nHost")
    sock = socket.create_connection((host, port), timeout=5)  # reset mid-request
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.sendall(b"POST /populate HTTP/1.1\r\nContent-Length: 10\r\n\r\n[")
    sock.close()
    assert api.get("/version").status_code == 200
    assert api.get("/proxies").json() == {}
