"""The toxiproxy driver: network, latency and error faults through a Toxiproxy-API server.

Works against the real Toxiproxy and chaosrunner's embedded proxy alike, through the
``toxiproxy-python`` client. The client's gaps are wrapped here rather than forked: it keeps
one global host/port (set under a lock per call), sends requests without a timeout (a shim
adds one), turns a 500 into ``KeyError``, a 400 or 409 into its own exceptions and a refused
connection into ``requests`` errors (all become ``DriverError``). Its ``Toxiproxy.version()``
is not used: it first tries a raw IPv4 connect without a timeout.

Faults and what they become:
- ``network partition``: the proxy is disabled (live connections closed, new ones refused);
  with ``mode: blackhole``, a ``timeout 0`` toxic on both streams instead (data held forever);
- ``network loss``: a ``timeout 0`` toxic on each stream ``direction`` selects, so that ``loss`` of
  the connections stall (on both streams each toxic's toxicity is 1 - sqrt(1 - loss): the real
  server flips a toxicity coin per toxic and connection);
- ``network bandwidth``: ``bandwidth`` toxics at ``rate`` KB/s;
- ``network restore``: re-enables the proxy and removes every toxic chaosrunner added;
- ``latency``: a ``latency`` toxic (delay, jitter) on the chosen stream;
- ``error``: a ``reset_peer`` toxic (timeout 0) with toxicity = error_rate.
Toxics are named ``chaosrunner-<fault id>-<n>``, so revert removes exactly them, idempotently.
"""
from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import toxiproxy.api as tp_api
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy

from chaosrunner.drivers.base import Driver, Handle, PlannedFault
from chaosrunner.errors import DriverError
from chaosrunner.model.faults import ErrorFault, LatencyFault, NetworkFault
from chaosrunner.model.targets import ToxiproxyHandle

_LOCK = threading.RLock()
PREFIX = "chaosrunner-"


class _TimeoutRequests:
    """Stands in for the ``requests`` module inside toxiproxy.api, adding a timeout."""

    def __init__(self, timeout: float):
        self.timeout = timeout

    def __getattr__(self, name: str) -> Any:
        fn = getattr(requests, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self.timeout)
            return fn(*args, **kwargs)

        return call


class ToxiproxyClient:
    """One Toxiproxy API server, used through toxiproxy-python with timeouts and clear errors."""

    def __init__(self, api: str, timeout: float = 5.0):
        parts = urlsplit(api if "//" in api else "http://" + api)
        self.api, self.host, self.port, self.timeout = api, parts.hostname or "127.0.0.1", parts.port or 8474, timeout

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            saved = (tp_api.APIConsumer.host, tp_api.APIConsumer.port, tp_api.requests)
            tp_api.APIConsumer.host, tp_api.APIConsumer.port = self.host, self.port
            tp_api.requests = _TimeoutRequests(self.timeout)
            try:
                return fn(*args, **kwargs)
            except NotFound:
                raise
            except (requests.RequestException, KeyError, ValueError, InvalidToxic, ProxyExists) as exc:
                raise DriverError(f"toxiproxy API {self.api}: {what} failed: {exc!r}") from exc
            finally:
                tp_api.APIConsumer.host, tp_api.APIConsumer.port, tp_api.requests = saved

    def proxy(self, name: str) -> Proxy:
        found = self.call(f"get proxy {name}", Toxiproxy().get_proxy, name)
        if found is None:
            raise DriverError(f"toxiproxy API {self.api} has no proxy named {name!r}")
        return found

    def version(self) -> str:
        """The server's ``GET /version`` body, through the same timed requests as every other call."""
        response = self.call("version", tp_api.APIConsumer.get, "/version")
        return str(response.content.decode(errors="replace"))


def _toxics_for(spec: Any) -> list[dict[str, Any]]:
    t = spec.type
    if t == "latency":
        return [{"type": "latency", "stream": spec.direction,
                 "attributes": {"latency": round(spec.delay * 1000), "jitter": round(spec.jitter * 1000)}}]
    if t == "error":
        return [{"type": "reset_peer", "stream": "upstream", "toxicity": spec.error_rate, "attributes": {"timeout": 0}}]
    streams = ["upstream", "downstream"] if getattr(spec, "direction", "both") == "both" else [spec.direction]
    if spec.operation == "loss":
        # each toxic flips its own coin per connection: n streams at p each stall 1 - (1 - p)**n of them
        toxicity = round(1 - (1 - spec.loss) ** (1 / len(streams)), 6)
        return [{"type": "timeout", "stream": s, "toxicity": toxicity, "attributes": {"timeout": 0}} for s in streams]
    if spec.operation == "bandwidth":
        return [{"type": "bandwidth", "stream": s, "attributes": {"rate": spec.rate}} for s in streams]
    if spec.operation == "partition" and getattr(spec, "mode", "refuse") == "blackhole":
        return [{"type": "timeout", "stream": s, "attributes": {"timeout": 0}} for s in streams]
    return []


def _describe_toxic(toxic: dict[str, Any]) -> str:
    coin = f", toxicity {toxic['toxicity']:g}" if "toxicity" in toxic else ""
    return f"{toxic['type']}({toxic['stream']}, {toxic['attributes']}{coin})"


class ToxiproxyDriver(Driver):
    name = "toxiproxy"
    fault_models = (NetworkFault, LatencyFault, ErrorFault)
    handle = "toxiproxy"
    handle_model = ToxiproxyHandle

    def check(self, fault: PlannedFault) -> None:
        fault.handle()

    def describe(self, fault: PlannedFault) -> tuple[str, str]:
        h: ToxiproxyHandle = fault.handle()
        where = f"proxy {h.proxy} at {h.api}"
        spec = fault.spec
        if spec.undoes():
            return (f"enable {where} and remove chaosrunner's toxics", "nothing")
        if spec.type == "network" and spec.operation == "partition" and getattr(spec, "mode", "refuse") == "refuse":
            return (f"disable {where}", f"enable {where}")
        toxics = ", ".join(_describe_toxic(x) for x in _toxics_for(spec))
        return (f"add {toxics} to {where}", f"remove those toxics from {where}")

    def _client(self, api: str, timeout: float) -> ToxiproxyClient:
        return ToxiproxyClient(api, timeout)

    def inject(self, fault: PlannedFault) -> Handle:
        h: ToxiproxyHandle = fault.handle()
        client = self._client(h.api, fault.spec.timeout)
        proxy = client.proxy(h.proxy)
        spec = fault.spec
        data: dict[str, Any] = {"api": h.api, "proxy": h.proxy, "toxics": [], "disabled": False}
        if spec.undoes():
            self._restore(client, proxy)
            data["noop"] = True
        elif spec.type == "network" and spec.operation == "partition" and getattr(spec, "mode", "refuse") == "refuse":
            client.call(f"disable {h.proxy}", proxy.disable)
            data["disabled"] = True
        else:
            for i, toxic in enumerate(_toxics_for(spec)):
                name = f"{PREFIX}{fault.fault_id}-{i}"
                client.call(f"add toxic {name}", proxy.add_toxic, name=name, type=toxic["type"],
                            stream=toxic["stream"], toxicity=toxic.get("toxicity", 1.0),
                            attributes=toxic["attributes"])
                data["toxics"].append(name)
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type, data)

    def handle_from_intent(self, fault: PlannedFault) -> Handle | None:
        h: ToxiproxyHandle = fault.handle()
        spec = fault.spec
        partition = (spec.type == "network" and spec.operation == "partition"
                     and getattr(spec, "mode", "refuse") == "refuse")
        toxics = [f"{PREFIX}{fault.fault_id}-{i}" for i in range(len(_toxics_for(spec)))]
        return Handle(fault.fault_id, self.name, fault.target_name, fault.type,
                      {"api": h.api, "proxy": h.proxy, "toxics": toxics, "disabled": partition})

    def _restore(self, client: ToxiproxyClient, proxy: Proxy) -> None:
        client.call(f"enable {proxy.name}", proxy.enable)
        for name in list(client.call("list toxics", proxy.toxics)):
            if name.startswith(PREFIX):
                try:
                    client.call(f"remove toxic {name}", proxy.destroy_toxic, name)
                except NotFound:
                    pass

    def revert(self, handle: Handle) -> None:
        data = handle.data
        if data.get("noop"):
            return
        client = self._client(data["api"], 10.0)
        try:
            proxy = client.proxy(data["proxy"])
        except DriverError as exc:
            if "has no proxy named" in str(exc):
                return  # the proxy is gone, and with it the fault
            raise
        if data.get("disabled"):
            client.call(f"enable {proxy.name}", proxy.enable)
        for name in data.get("toxics", []):
            try:
                client.call(f"remove toxic {name}", proxy.destroy_toxic, name)
            except NotFound:
                pass
        # a revert shows its effect: read the proxy back (enabled, none of our toxics left)
        after = client.proxy(data["proxy"])
        left = sorted(set(data.get("toxics", [])) & set(client.call("list toxics", after.toxics)))
        if left or (data.get("disabled") and not after.enabled):
            raise DriverError(f"proxy {data['proxy']} still " + ("disabled" if not after.enabled else
                              f"has toxics {', '.join(left)}") + " after the revert", target=handle.target)

    def active_toxics(self, api: str, proxy_name: str) -> dict[str, Any]:
        client = self._client(api, 5.0)
        return dict(client.call("list toxics", client.proxy(proxy_name).toxics))
