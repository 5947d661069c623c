"""The load: section model: valid shapes, and each mistake as one clear LoadError."""
from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner.errors import LoadError
from chaosrunner.traffic import LoadSpec, parse_load_spec


def test_locustfile_spec_resolves_relative_to_the_experiment(tmp_path: Path) -> None:
    spec = parse_load_spec({"locustfile": "locust/api.py", "users": 50, "spawn_rate": 10})
    assert spec.resolve_locustfile(tmp_path) == tmp_path / "locust" / "api.py"
    assert spec.workers == 0 and spec.rate is None


def test_units_are_parsed() -> None:
    spec = parse_load_spec({"http": {"host": "http://127.0.0.1:1", "paths": ["/a", "/b"], "weights": [3, 1]},
                            "users": 4, "rate": "600/m", "run_time": "2m"})
    assert spec.rate == 10.0 and spec.run_time == 120.0
    assert spec.target_host == "http://127.0.0.1:1"


@pytest.mark.parametrize("data, message", [
    ({"locustfile": "a.py", "users": 0, "rate": "10/s"}, "users: 0"),
    ({"locustfile": "a.py", "http": {"host": "http://x:1", "paths": ["/"]}, "users": 1}, "exactly one of"),
    ({"users": 1}, "exactly one of"),
    ({"locustfile": "a.py"}, "needs users"),
    ({"locustfile": "a.py", "users": 2, "shape": [{"duration": "5s", "users": 2, "spawn_rate": 1}]},
     "both users: and shape:"),
    ({"http": {"host": "http://x:1", "paths": ["health"]}, "users": 1}, "must start with '/'"),
    ({"http": {"host": "http://x:1", "paths": ["/a", "/b"], "weights": [1]}, "users": 1}, "one weight per path"),
    ({"master": "10.0.0.5:8089", "rate": "5/s"}, "observes an existing Locust"),
    ({"master": "nohost"}, "host:port"),
    ({"locustfile": "a.py", "users": 1, "host": "127.0.0.1:80"}, "not a base URL"),
    ({"locustfile": "a.py", "users": 1, "usres": 3}, "usres"),
])
def test_bad_load_sections_are_clear_errors(data: dict, message: str) -> None:
    with pytest.raises(LoadError) as info:
        parse_load_spec(data)
    assert message in str(info.value)


def test_references_are_left_for_resolution() -> None:
    spec = LoadSpec.model_validate({"locustfile": "a.py", "users": 1, "host": "${api.url}"})
    assert spec.host == "${api.url}"


def test_http_host_wins_over_load_host_and_may_be_left_to_the_inventory() -> None:
    spec = parse_load_spec({"http": {"host": "http://127.0.0.1:1", "paths": ["/"]}, "host": "http://127.0.0.1:2",
                            "users": 1})
    assert spec.target_host == "http://127.0.0.1:1" and spec.host_field == ("http", "host")
    spec = parse_load_spec({"http": {"paths": ["/"]}, "host": "http://127.0.0.1:2", "users": 1})
    assert spec.target_host == "http://127.0.0.1:2" and spec.host_field == ("host",)
    # no host at all is valid here: the inventory's base_url is the default (the planner checks it exists)
    assert parse_load_spec({"http": {"paths": ["/"]}, "users": 1}).target_host is None
