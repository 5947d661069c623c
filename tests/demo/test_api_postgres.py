"""The demo API node on real PostgreSQL (the docker-compose setup, without Docker): same routes."""
from __future__ import annotations

import subprocess
import sys

import pytest

import pgcluster
from chaosrunner.demo.inventory import free_ports

from .helpers import get_json, http, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 not installed")]


def test_api_node_serves_configs_from_postgresql(tmp_path):
    cluster = pgcluster.PgCluster.create()
    port, external = free_ports(2)
    api = subprocess.Popen([sys.executable, "-m", "chaosrunner.demo.api", "--port", str(port), "--name", "api-pg",
                            "--region", "r1", "--store", f"postgresql://postgres@127.0.0.1:{cluster.primary.port}/postgres",
                            "--external", f"http://127.0.0.1:{external}"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base) and http("GET", f"{base}/health")[0] == 200, 15, what="API on PostgreSQL")
        assert http("PUT", f"{base}/configs/route-1", b"cluster: a")[0] == 200
        assert http("GET", f"{base}/configs/route-1")[1] == b"cluster: a"
        assert http("GET", f"{base}/configs/none")[0] == 404
        assert "is primary" in get_json(f"{base}/health")["store"]
        assert get_json(f"{base}/fleet/status")["status"] == "degraded"      # no external service here
    finally:
        api.terminate()
        api.wait(5)
        cluster.destroy()


def _up(base: str) -> bool:
    try:
        http("GET", f"{base}/metrics", timeout=0.5)
        return True
    except OSError:
        return False
