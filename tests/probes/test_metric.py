"""The metric probe: load statistics over a sliding window, and PromQL against a real Prometheus."""
from __future__ import annotations

import asyncio
import time

import pytest

from support import prometheus_scraping, set_gauge

from chaosrunner.errors import ProbeError
from chaosrunner.model.probes import MetricProbeSpec
from chaosrunner.probes import ProbeContext, build_probe
from chaosrunner.probes.metric import evaluate_load
from chaosrunner.timeline import LoadStat, Timeline

def spec(**kw: object) -> MetricProbeSpec:
    return MetricProbeSpec.model_validate({"type": "metric", **kw})


def load_timeline(now: float = 20.0) -> Timeline:
    tl = Timeline(clock=lambda: now)
    tl._t_start = 0.0   # run clock == the fake clock
    for t in range(1, 21):
        slow = t > 15
        tl.add_load_stat(LoadStat(t=t, name="Aggregated", requests=100, failures=3 if slow else 0, rps=100,
                                  p50=20, p95=400 if slow else 40, p99=800 if slow else 60, max=900))
    return tl


def check(probe_spec: MetricProbeSpec, ctx: ProbeContext):
    probe = build_probe(probe_spec, "m", ctx)

    async def go():
        try:
            return await probe.check()
        finally:
            await probe.close()

    return asyncio.run(go())


@pytest.mark.parametrize("kw, ok", [
    ({"name": "p99_latency", "threshold": "500ms", "window": "3s"}, False),
    ({"name": "p99_latency", "threshold": "500ms", "window": "3s", "source": "load"}, False),
    ({"name": "p99_latency", "threshold": "1s", "window": "3s"}, True),
    ({"name": "p95_latency", "threshold": "500ms", "window": "3s"}, True),
    ({"name": "error_rate", "threshold": "1%", "window": "3s"}, False),
    ({"name": "error_rate", "threshold": "5%", "window": "3s"}, True),
    ({"name": "rps", "threshold": 50, "window": "10s"}, True),
    ({"name": "rps", "threshold": 150, "window": "10s"}, False),
    ({"name": "rps", "threshold": 100, "operator": ">=", "window": "10s"}, True),
])
def test_load_source(kw: dict, ok: bool) -> None:
    outcome = check(spec(**kw), ProbeContext(timeline=load_timeline()))
    assert outcome.ok is ok, outcome
    if not ok:
        assert "last" in outcome.error


def test_load_source_reports_values_and_clear_errors() -> None:
    tl = load_timeline()
    out = evaluate_load(spec(name="p99_latency", threshold="500ms", window="3s"), tl)
    assert out.value == pytest.approx(0.8) and out.error == "p99_latency 800ms is not < 500ms (last 3s)"
    stale = evaluate_load(spec(name="p99_latency", threshold="500ms"), tl, now=100.0)
    assert not stale.ok and "no load statistics in the last 10.0s" in stale.error
    with pytest.raises(ProbeError, match="not a load metric"):
        build_probe(spec(name="p42", threshold=1, source="load"), "m", ProbeContext(timeline=tl))


# -- Prometheus ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    with prometheus_scraping(tmp_path_factory.mktemp("prom")) as urls:
        yield urls


def wait_probe(probe_spec: MetricProbeSpec, ctx: ProbeContext, ok: bool, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        outcome = check(probe_spec, ctx)
        if outcome.ok is ok or time.monotonic() > deadline:
            return outcome
        time.sleep(0.3)


@pytest.mark.slow
def test_promql_probe_passes_and_fails_as_thresholds_are_set(prometheus) -> None:
    app_url, prom_url = prometheus
    set_gauge(app_url, 4)
    ctx = ProbeContext(extras={"prometheus": prom_url})
    query = 'demo_queue_depth{job="app"}'
    # scraped every second: wait until Prometheus holds the value
    outcome = wait_probe(spec(name="queue", source="prometheus", query=f"max({query})", threshold=4,
                              operator=">="), ctx, True)
    assert outcome.ok and outcome.value == 4.0
    # a vector: every series must satisfy (a=4, b=2)
    passing = check(spec(name="queue", source="prometheus", query=query, threshold=5), ctx)
    assert passing.ok and sorted(passing.value.values()) == [2.0, 4.0]
    assert any(k.startswith("demo_queue_depth{") and 'shard="a"' in k for k in passing.value)
    failing = check(spec(name="queue", source="prometheus", query=query, threshold=3), ctx)
    assert not failing.ok and "1 of 2 series not < 3" in failing.error and 'shard="a"' in failing.error
    # the service changes; the same probe follows it
    set_gauge(app_url, 20)
    later = wait_probe(spec(name="queue", source="prometheus", query=query, threshold=5), ctx, False)
    assert not later.ok and "2 of 2 series" in later.error
    # a scalar result, and the server taken from the probe itself
    scalar = check(spec(name="x", source="prometheus", query="scalar(max(demo_queue_depth))", threshold=100,
                        prometheus=prom_url), ProbeContext())
    assert scalar.ok and scalar.value == 20.0


@pytest.mark.slow
def test_promql_errors_are_failed_samples(prometheus) -> None:
    _, prom_url = prometheus
    ctx = ProbeContext(extras={"prometheus": prom_url})
    empty = check(spec(name="x", source="prometheus", query="no_such_metric_anywhere", threshold=1), ctx)
    assert not empty.ok and "returned no series" in empty.error
    bad = check(spec(name="x", source="prometheus", query="sum(", threshold=1), ctx)
    assert not bad.ok and "bad_data" in bad.error


def test_prometheus_probe_needs_a_server() -> None:
    with pytest.raises(ProbeError, match="needs a server"):
        build_probe(spec(name="x", source="prometheus", query="up", threshold=1), "m", ProbeContext())
