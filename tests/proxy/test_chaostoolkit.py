"""A Chaos Toolkit experiment using chaostoolkit-toxiproxy (``chaostoxi``) actions, run by chaoslib."""
from __future__ import annotations

import time

import pytest
from chaoslib.experiment import run_experiment

from .helpers import connect, round_trip


def python(name: str, kind: str, module: str, func: str, **arguments) -> dict:
    return {"type": kind, "name": name,
            "provider": {"type": "python", "module": module, "func": func, "arguments": arguments}}


@pytest.fixture
def experiment(server, upstream):
    return {
        "version": "1.0.0",
        "title": "Database latency through the embedded proxy",
        "description": "chaostoxi actions against chaosrunner's Toxiproxy-compatible server",
        "configuration": {"toxiproxy_url": server.api_url},
        "method": [
            python("create proxy", "action", "chaostoxi.proxy.actions", "create_proxy", proxy_name="ctk",
                   upstream_host="127.0.0.1", upstream_port=upstream.port, listen_host="127.0.0.1"),
            python("proxy exists", "probe", "chaostoxi.proxy.probes", "proxy_exist", proxy_name="ctk"),
            python("add latency", "action", "chaostoxi.toxic.actions", "create_latency_toxic",
                   for_proxy="ctk", toxic_name="slow-db", latency=500),
            python("add limiter", "action", "chaostoxi.toxic.actions", "create_limiter_toxic",
                   for_proxy="ctk", toxic_name="limit", bytes_limit=1_000_000),
            python("remove limiter", "action", "chaostoxi.toxic.actions", "delete_toxic",
                   for_proxy="ctk", toxic_name="limit"),
            python("disable", "action", "chaostoxi.proxy.actions", "disable_proxy", proxy_name="ctk"),
            python("enabled?", "probe", "chaostoxi.proxy.probes", "get_proxy_attribute", proxy_name="ctk",
                   attribute="enabled"),
            python("enable", "action", "chaostoxi.proxy.actions", "enable_proxy", proxy_name="ctk"),
        ],
        "rollbacks": [python("reset", "action", "chaostoxi.proxy.actions", "reset")],
    }


def test_chaostoxi_experiment_runs_against_the_embedded_proxy(api, experiment):
    journal = run_experiment(experiment)
    assert journal["status"] == "completed", journal
    runs = {run["activity"]["name"]: run for run in journal["run"]}
    assert all(run["status"] == "succeeded" for run in runs.values()), runs
    assert runs["proxy exists"]["output"] is True
    assert runs["enabled?"]["output"] is False
    assert all(r["status"] == "succeeded" for r in journal["rollbacks"])

    proxy = api.get("/proxies/ctk").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []  # the rollback reset removed the latency
    host, port = proxy["listen"].rsplit(":", 1)
    with connect((host, int(port))) as sock:
        assert round_trip(sock) < 0.25  # fast on a busy machine too, and well under the 500 ms toxic


def test_chaostoxi_latency_toxic_is_felt_by_traffic(api, server, upstream):
    from chaostoxi.proxy.actions import create_proxy
    from chaostoxi.toxic.actions import create_latency_toxic, delete_toxic

    configuration = {"toxiproxy_url": server.api_url}
    assert create_proxy("felt", "127.0.0.1", upstream.port, listen_host="127.0.0.1", configuration=configuration)
    port = int(configuration["felt_PORT"])
    assert create_latency_toxic("felt", "lat", latency=500, configuration=configuration)
    with connect(("127.0.0.1", port)) as sock:
        start = time.monotonic()
        round_trip(sock)
        assert time.monotonic() - start >= 0.49
        assert delete_toxic("felt", "lat", configuration=configuration)
        assert round_trip(sock) < 0.25  # fast on a busy machine too, and well under the 500 ms toxic
    assert api.get("/proxies/felt/toxics").json() == []
