"""The warm-up: when every request of the first seconds fails, the load is bad input (before any fault)."""
from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner.traffic import LoadRunner
from chaosrunner.model.traffic import LoadInputError
from chaosrunner.timeline import Timeline

from support import free_port

pytestmark = pytest.mark.slow


def test_every_warm_up_request_refused_names_the_host_and_the_error(tmp_path: Path, delay_server) -> None:
    # The class's host answers (preflight passes), but the requests go to an absolute URL where
    # nothing listens: only the warm-up can see it.
    dead = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "api.py").write_text(
        "from locust import HttpUser, constant, task\n\n"
        "class Api(HttpUser):\n"
        f"    host = {delay_server.url!r}\n"
        "    wait_time = constant(0.05)\n\n"
        "    @task\n"
        "    def home(self):\n"
        f"        self.client.get({dead + '/home'!r})\n")
    runner = LoadRunner({"locustfile": "api.py", "users": 2, "spawn_rate": 10}, tmp_path / "run", Timeline(),
                        base_dir=tmp_path, run_time=30)
    runner.preflight()
    runner.start()
    try:
        with pytest.raises(LoadInputError) as info:
            runner.warm_up(10)
    finally:
        runner.stop()
    message = info.value.message
    assert message.startswith("every request of the load's warm-up failed")
    assert f"nothing listens on {dead}" in message and "ConnectionRefusedError" in message
    assert info.value.hint == "start the service or fix load.host"


def test_a_healthy_warm_up_passes(tmp_path: Path, delay_server) -> None:
    tl = Timeline()
    runner = LoadRunner({"http": {"host": delay_server.url, "paths": ["/a"]}, "users": 2, "rate": "20/s"},
                        tmp_path, tl, run_time=30)
    runner.preflight()
    runner.start()
    try:
        runner.warm_up(10)
    finally:
        runner.stop()
    assert sum(s.requests for s in tl.load_stats if s.name == "Aggregated") > 0 and not runner.errors
