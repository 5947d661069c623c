"""The demo API node on real PostgreSQL (the docker-compose setup, without Docker): same routes."""
from __future__ import annotations

import subprocess
import sys

import pytest

import pgcluster
from chaosrunner.demo.inventory import free_ports

from .helpers import HTTP_NOT_YET, get_json, http, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not pgcluster.available(), reason="PostgreSQL 15 not installed")]


def test_api_node_serves_configs_from_postgresql(tmp_path):
    cluster = pgcluster.PgCluster.create()
    port, external = free_ports(2)
    api = subprocess.Popen([sys.executable, "-m", "chaosrunner.demo.api", "--port", str(port), "--name", "api-pg",
                            "--region", "r1", "--store", f"postgresql://postgres@127.0.0.1:{cluster.primary.port}/postgres",
                            "--external", f"http://127.0.0.1:{external}"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        # refused until the node listens, 503 until its store check passed
        wait_until(lambda: http("GET", f"{base}/health")[0] == 200, 30, interval=0.1, what="API on PostgreSQL",
                   ignore=HTTP_NOT_YET)
        assert http("PUT", f"{base}/configs/route-1", b"cluster: a")[0] == 200
        assert http("GET", f"{base}/configs/route-1")[1] == b"cluster: a"
        assert http("GET", f"{base}/configs/none")[0] == 404
        assert "is primary" in get_json(f"{base}/health")["store"]
        assert get_json(f"{base}/fleet/status")["status"] == "degraded"      # no external service here
    finally:
        api.terminate()
        api.wait(5)
        cluster.destroy()
