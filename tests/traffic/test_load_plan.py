"""What the planner checks of load: and of metric probes, before anything runs (no Locust started)."""
from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner import api
from chaosrunner.errors import PlanError
from chaosrunner.planning import DEFAULT_PROMQL

from support import write

INV = "base_url: http://127.0.0.1:8080\nprometheus: http://127.0.0.1:9090\ntargets:\n  web: {url: http://127.0.0.1:8080}\n"


def experiment(tmp_path: Path, body: str, inventory: str = INV) -> Path:
    write(tmp_path / "inv.yaml", inventory)
    return write(tmp_path / "exp.yaml", "name: e\ntargets: inv.yaml\n" + body + "method:\n  - pause: 1s\n")


def test_http_profile_without_host_takes_the_inventorys_base_url(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "load: {http: {paths: [/]}, users: 1}\n")
    [plan] = api.plan(exp)
    assert plan.experiment.model.load is not None and plan.experiment.model.load.target_host is None


def test_http_profile_without_any_host_is_located(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "load:\n  http: {paths: [/]}\n  users: 1\n", inventory="targets: {}\n")
    with pytest.raises(PlanError) as info:
        api.plan(exp)
    assert str(info.value.location) == f"{exp}:4:9" and "base_url" in str(info.value.hint)


def test_missing_locustfile_is_located(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "load:\n  users: 1\n  locustfile: locust/nope.py\n")
    with pytest.raises(PlanError, match=r"'locust/nope.py' does not exist") as info:
        api.plan(exp)
    assert str(info.value.location) == f"{exp}:5:15"


def test_metric_probe_without_load_queries_the_inventorys_prometheus(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "steady_state:\n"
                               "  - probe: {type: metric, name: p99_latency, threshold: 500ms}\n"
                               "  - probe: {type: metric, name: error_rate, threshold: 1%}\n")
    [plan] = api.plan(exp)
    p99, errors = plan.experiment.model.probes()
    assert p99.query == DEFAULT_PROMQL["p99_latency"] and p99.source is None
    assert p99.query.startswith("histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m]))")
    assert errors.query == DEFAULT_PROMQL["error_rate"] and "or vector(0)" in errors.query


def test_metric_probe_with_load_keeps_reading_the_load(tmp_path: Path) -> None:
    exp = experiment(tmp_path, "load: {http: {paths: [/]}, users: 1}\nsteady_state:\n"
                               "  - probe: {type: metric, name: p99_latency, threshold: 500ms}\n")
    [plan] = api.plan(exp)
    assert plan.experiment.model.probes()[0].query is None


@pytest.mark.parametrize("inventory,message,hint", [
    (INV, "has no query:, and chaosrunner has no default PromQL", "p99_latency"),
    ("targets: {}\n", "reads load statistics, but the experiment has no load:", "source: prometheus"),
])
def test_metric_probe_that_cannot_be_read_says_how_to_fix_it(tmp_path: Path, inventory: str, message: str,
                                                             hint: str) -> None:
    exp = experiment(tmp_path, "steady_state:\n  - probe: {type: metric, name: queue_depth, threshold: 5}\n",
                     inventory)
    with pytest.raises(PlanError, match=message) as info:
        api.plan(exp)
    assert str(info.value.location).startswith(f"{exp}:4:") and hint in str(info.value.hint)
