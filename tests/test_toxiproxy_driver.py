"""The toxiproxy driver in real runs: each fault type through the embedded proxy, in front of a real
service. The effect shows in the samples while the fault is on; afterwards the proxy is enabled
and carries no toxic (checked through the API)."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from chaosrunner import api
from chaosrunner.drivers.base import PlannedFault
from chaosrunner.drivers.toxiproxy import ToxiproxyClient, ToxiproxyDriver
from chaosrunner.errors import DriverError
from chaosrunner.model.faults import NetworkFault
from chaosrunner.model.targets import Target, ToxiproxyHandle
from chaosrunner.proxy.server import start_in_thread
from support import write

pytestmark = pytest.mark.slow


def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def proxied(web, tmp_path):
    with start_in_thread(port=0) as server:
        created = call(server.api_url + "/proxies", "POST",
                       {"name": "web", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{web.port}"})
        write(tmp_path / "inv.yaml", f"""\
targets:
  web:
    url: http://{created['listen']}
    toxiproxy: {{api: {server.api_url}, proxy: web}}
""")
        yield server


def run_fault(tmp_path, server, action: str, timeout: str = "600ms"):
    exp = write(tmp_path / "exp.yaml", f"""\
name: toxic
targets: inv.yaml
steady_state:
  - probe: {{type: http, url: "${{web.url}}/health", timeout: {timeout}}}
method:
  - pause: 500ms
  - action: {{{action}, target: web, duration: 2s}}
  - pause: 1s
sampling: {{interval: 100ms, stable_for: 500ms}}
""")
    during: list[dict] = []

    def look(record):
        if getattr(record, "kind", None) is not None and record.kind.value == "fault_injected":
            during.append(call(server.api_url + "/proxies/web"))

    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False, on_record=look))
    after = call(server.api_url + "/proxies/web")
    assert after["enabled"] is True and after["toxics"] == []            # reverted, nothing left behind
    events = result.data["timeline"]["events"]
    t_in = next(e["t"] for e in events if e["kind"] == "fault_injected")
    t_out = next(e["t"] for e in events if e["kind"] == "fault_reverted")
    # inside: samples that end (600 ms timeout, which may fire late on a busy machine) before the
    # revert; outside: samples begun well after the revert finished, when nothing may fail any more
    inside = [s for s in result.data["timeline"]["samples"] if t_in + 0.2 < s["start"] < t_out - 1.0]
    outside = [s for s in result.data["timeline"]["samples"] if s["start"] > t_out + 0.5]
    assert inside and outside and all(s["ok"] for s in outside)
    return during[0], inside, result


def test_partition_refuses(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: network, operation: partition")
    assert state["enabled"] is False
    assert not any(s["ok"] for s in inside)


def test_partition_blackhole_holds(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: network, operation: partition, mode: blackhole")
    assert state["enabled"] is True and {t["type"] for t in state["toxics"]} == {"timeout"}
    assert inside and all("timed out" in (s["error"] or "") for s in inside)


def test_loss(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: network, operation: loss, loss: 100%")
    assert state["toxics"][0]["type"] == "timeout" and state["toxics"][0]["toxicity"] == 1.0
    assert not any(s["ok"] for s in inside)


def test_bandwidth(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: network, operation: bandwidth, rate: 16")
    assert {(t["type"], t["attributes"]["rate"]) for t in state["toxics"]} == {("bandwidth", 16)}
    assert len(state["toxics"]) == 2                                       # both directions


def test_latency(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: latency, delay: 300ms, jitter: 0ms", timeout="2s")
    assert state["toxics"][0]["attributes"]["latency"] == 300
    assert all(s["ok"] and s["end"] - s["start"] >= 0.29 for s in inside)


def test_error(tmp_path, proxied):
    state, inside, _ = run_fault(tmp_path, proxied, "type: error, error_rate: 100%")
    assert state["toxics"][0]["type"] == "reset_peer"
    assert not any(s["ok"] for s in inside)


def test_restore_in_rollbacks_and_idempotent_revert(tmp_path, proxied):
    client = ToxiproxyClient(proxied.api_url)
    assert client.version()
    from chaosrunner.drivers import Handle
    from chaosrunner.drivers.toxiproxy import ToxiproxyDriver

    h = Handle("fx", "toxiproxy", "web", "latency", {"api": proxied.api_url, "proxy": "web",
                                                       "toxics": ["chaosrunner-fx-0"], "disabled": True})
    ToxiproxyDriver().revert(h)                    # nothing to remove: still fine
    ToxiproxyDriver().revert(h)
    assert call(proxied.api_url + "/proxies/web")["enabled"] is True


def test_partition_until_rollback_restore_is_an_action_not_a_fault(tmp_path, proxied):
    """A partition without duration lasts until the rollbacks; their `restore` is recorded as an
    action (not a new fault window), so recovery is measured at once instead of waiting it out."""
    exp = write(tmp_path / "exp.yaml", """\
name: until-rollback
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 300ms}
method:
  - action: {type: network, target: web, operation: partition}
  - pause: 1s
rollback:
  - action: {type: network, target: web, operation: restore}
objectives: {rto: 5s}
sampling: {interval: 100ms, stable_for: 300ms}
""")
    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                                                   recovery_timeout=20))
    kinds = [e["kind"] for e in result.data["timeline"]["events"]]
    assert kinds.count("fault_injected") == 1 and kinds.count("fault_reverted") == 1
    assert any(e["kind"] == "action" and e["data"]["ok"] for e in result.data["timeline"]["events"])
    assert result.data["duration_s"] < 15                  # about 3 s: no wait for the 20 s recovery timeout
    assert result.status == "held" and call(proxied.api_url + "/proxies/web")["enabled"] is True


def planned(api_url: str, **spec) -> PlannedFault:
    fault = NetworkFault(type="network", target="web", **spec)
    return PlannedFault("fx", fault, "web", Target(toxiproxy=ToxiproxyHandle(api=api_url, proxy="web")), "toxiproxy")


@pytest.mark.parametrize("direction, streams", [
    ("both", {"upstream", "downstream"}), ("upstream", {"upstream"}), ("downstream", {"downstream"})])
def test_loss_applies_to_the_streams_direction_selects(proxied, direction, streams):
    driver = ToxiproxyDriver()
    handle = driver.inject(planned(proxied.api_url, operation="loss", loss="30%", direction=direction))
    toxics = call(proxied.api_url + "/proxies/web/toxics")
    assert {t["stream"] for t in toxics} == streams and len(toxics) == len(streams)
    assert all(t["type"] == "timeout" and t["attributes"] == {"timeout": 0} for t in toxics)
    # each toxic flips its own coin: together they stall 30% of the connections
    kept = 1.0
    for t in toxics:
        kept *= 1 - t["toxicity"]
    assert 1 - kept == pytest.approx(0.3, abs=1e-4)
    driver.revert(handle)
    assert call(proxied.api_url + "/proxies/web/toxics") == []


def test_downstream_loss_holds_the_answers_then_lets_them_through(proxied):
    listen = call(proxied.api_url + "/proxies/web")["listen"]
    driver = ToxiproxyDriver()
    handle = driver.inject(planned(proxied.api_url, operation="loss", loss="100%", direction="downstream"))
    assert [t["stream"] for t in call(proxied.api_url + "/proxies/web/toxics")] == ["downstream"]
    with pytest.raises(OSError):                   # the request goes up, the answer never comes back
        urllib.request.urlopen(f"http://{listen}/health", timeout=0.5)
    driver.revert(handle)
    assert call(proxied.api_url + "/proxies/web/toxics") == []
    with urllib.request.urlopen(f"http://{listen}/health", timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture
def silent_api():
    """A TCP server on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for s in held + [server]:
        s.close()


def test_a_silent_api_times_out_within_the_fault_timeout(silent_api, monkeypatch):
    import toxiproxy.server

    def raw_connect(host, port):                   # toxiproxy-python's untimed IPv4 probe
        raise AssertionError("the driver must not use can_connect_to")

    monkeypatch.setattr(toxiproxy.server, "can_connect_to", raw_connect)
    start = time.monotonic()
    with pytest.raises(DriverError, match="version failed"):
        ToxiproxyClient(silent_api, timeout=0.5).version()
    assert time.monotonic() - start < 4.0                # the 0.5 s timeout; an untimed call would hang
    start = time.monotonic()
    with pytest.raises(DriverError, match="timed out|Timeout"):
        ToxiproxyDriver().inject(planned(silent_api, operation="partition", timeout="500ms"))
    assert time.monotonic() - start < 4.0                # the 500 ms fault timeout; untimed would hang


def test_a_blackholed_target_trips_probe_failing_for_at_its_limit_not_at_the_probe_timeout(tmp_path, proxied):
    """The reproduction: probe_failing_for 2s, a blackholed target, probe timeout 5s. The run used to
    abort at 5.28 s (a sample counted as failing only once it timed out); now a sample still
    unanswered past its deadline counts as failing, so it aborts about 2 s after the fault."""
    exp = write(tmp_path / "exp.yaml", """\
name: blackhole
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 5s}
method:
  - action: {type: network, operation: partition, mode: blackhole, target: web, duration: 60s}
abort_when: [{probe_failing_for: 2s}]
sampling: {interval: 250ms, stable_for: 500ms}
""")
    [result] = api.run(exp, options=api.RunOptions(report_dir=tmp_path / "r", render_report=False,
                                                   handle_signals=False))
    events = result.data["timeline"]["events"]
    t_in = next(e["t"] for e in events if e["kind"] == "fault_injected")
    abort = next(e for e in events if e["kind"] == "abort")
    assert result.status == "aborted" and "failing for" in abort["data"]["reason"]
    assert 1.9 <= abort["t"] - t_in < 3.5, abort["t"] - t_in
    after = call(proxied.api_url + "/proxies/web")
    assert after["enabled"] is True and after["toxics"] == []
