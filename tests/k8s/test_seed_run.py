"""The seed's §10.1 experiments run end to end against the Kubernetes example inventory.

The cluster is the loopback fake Kubernetes API (tests/k8s/fakeapi.py; the real ``kubernetes`` client
reaches it through $KUBECONFIG with the inventory's context). What the inventory names outside the
cluster is made real on loopback: the seed's API (``/health`` and the ``p99_latency`` histogram,
tests/k8s/api_app.py) scraped by a real Prometheus, and the Toxiproxy in front of the Services
(chaosrunner's own Toxiproxy-compatible proxy, in front of that API). The copy of
targets/k8s-example.yaml differs only in those three addresses.

The seed's faults last 5m, 10m and 2m + 2m: the file runs unchanged with ``--time-scale 0.01``
(3 s, 6 s, 1.2 s + 1.2 s; its objectives as written). A watcher sees each fault in the cluster (or in
the proxy) while the run lasts; after it, nothing is left and every fault was reverted.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrunner.demo.inventory import free_ports
from chaosrunner.proxy.server import start_in_thread
from k8s.conftest import NS
from support import ROOT, run_cli, stop_processes, wait_http, wait_until, write

pytestmark = pytest.mark.slow

SEED = ROOT / "experiments" / "seed-experiments.yaml"
EXAMPLE = ROOT / "targets" / "k8s-example.yaml"
P99 = "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))"


@contextlib.contextmanager
def api_with_prometheus(tmp: Path) -> Iterator[tuple[str, str]]:
    """The seed's API stand-in and a real Prometheus scraping it every second: (API URL, Prometheus URL)."""
    assert shutil.which("prometheus"), "Debian's prometheus is installed by scripts/setup"
    app_port, prom_port = free_ports(2)
    app = subprocess.Popen([sys.executable, str(Path(__file__).parent / "api_app.py"), str(app_port)])
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
        f"  - job_name: api\n    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app_url, prom_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{prom_port}"
    try:
        wait_http(app_url + "/health", proc=app)
        wait_http(prom_url + "/-/ready", proc=prom)

        def p99() -> bool:
            q = urllib.parse.urlencode({"query": P99})
            with urllib.request.urlopen(f"{prom_url}/api/v1/query?{q}", timeout=5) as r:
                result = json.loads(r.read())["data"]["result"]
            return bool(result) and result[0]["value"][1] not in ("NaN", "+Inf")

        wait_until(p99, timeout=60, what="p99 latency in Prometheus", ignore=(OSError, ValueError, KeyError))
        yield app_url, prom_url
    finally:
        stop_processes(prom, app)


def _toxics(api: str, proxy: str) -> list[dict]:
    with urllib.request.urlopen(f"{api}/proxies/{proxy}/toxics", timeout=5) as r:
        return list(json.loads(r.read()))


def test_the_seed_experiments_inject_and_revert_on_the_fake_cluster(cluster, tmp_path, isolated_state):
    with api_with_prometheus(tmp_path) as (app_url, prom_url), start_in_thread(port=0) as proxy:
        port = int(app_url.rsplit(":", 1)[1])
        for name in ("postgres", "external_service"):
            req = urllib.request.Request(proxy.api_url + "/proxies", method="POST", data=json.dumps(
                {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{port}"}).encode())
            urllib.request.urlopen(req, timeout=5).close()
        inv = EXAMPLE.read_text()
        inv = inv.replace("https://api.envoy-control.example.com", app_url)
        inv = inv.replace("http://prometheus.monitoring.svc:9090", prom_url)
        inv = inv.replace("http://toxiproxy.envoy-control.svc.cluster.local:8474", proxy.api_url)
        write(tmp_path / "inv.yaml", inv)
        exp = SEED                                      # as shipped: only the clock is compressed

        seen: set[str] = set()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                policies = cluster.list("NetworkPolicy", NS)
                if [p["spec"]["podSelector"]["matchLabels"] for p in policies] == [{"app": "postgres",
                                                                                    "role": "primary"}]:
                    seen.add("partition")
                stress = [p for p in cluster.list("Pod", NS) if p["metadata"]["name"].startswith("chaosrunner-")]
                if len(stress) == 3:
                    seen.add("memory")
                with contextlib.suppress(OSError):
                    if [t["type"] for t in _toxics(proxy.api_url, "postgres")] == ["latency"]:
                        seen.add("latency")
                    if [(t["type"], t["toxicity"]) for t in _toxics(proxy.api_url, "external_service")] == \
                            [("reset_peer", 0.5)]:
                        seen.add("error")
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            r = run_cli("run", str(exp), "--targets", str(tmp_path / "inv.yaml"), "--non-interactive",
                        "--time-scale", "0.01", "--report-dir", str(tmp_path / "reports"), timeout=300)
        finally:
            stop.set()
            watcher.join(5)
        assert seen == {"partition", "memory", "latency", "error"}, r.stdout + r.stderr
        assert r.returncode == 0, r.stdout + r.stderr
        # nothing left: no policy, no stress pod, no toxic, nothing in the ledger
        assert cluster.list("NetworkPolicy", NS) == []
        assert not [p for p in cluster.list("Pod", NS) if p["metadata"]["name"].startswith("chaosrunner-")]
        assert _toxics(proxy.api_url, "postgres") == [] and _toxics(proxy.api_url, "external_service") == []
        assert not list((isolated_state / "ledger").glob("*.json"))
        runs = sorted((tmp_path / "reports").glob("*/run.json"))
        assert len(runs) == 3
        drivers, held = [], {}
        for run in runs:
            doc = json.loads(run.read_text())
            events = doc["timeline"]["events"]
            injected = [e["data"]["fault_id"] for e in events if e["kind"] == "fault_injected"]
            reverted = [e["data"]["fault_id"] for e in events if e["kind"] == "fault_reverted"]
            assert injected and sorted(injected) == sorted(reverted), run
            drivers += [e["data"]["driver"] for e in events if e["kind"] == "fault_injected"]
            at = {(e["kind"], e["data"]["fault_id"]): e["t"] for e in events
                  if e["kind"] in ("fault_injected", "fault_reverted")}
            held[doc["experiment"]["name"]] = sorted(at[("fault_reverted", f)] - at[("fault_injected", f)]
                                                     for f in injected)
            assert [n["text"] for n in doc["notes"]] == [
                "compressed clock: --time-scale 0.01 (fault durations, pauses and load ×0.01; objectives, probe "
                "timeouts, sampling and stop conditions as written)"]
            assert doc["experiment"]["raw"]["method"][0]["action"]["duration"] in ("5m", "10m", "2m")  # as written
        assert drivers == ["kubernetes"] * 4
        # each fault held for its scaled duration (the seed's ×0.01), plus the revert's own time
        for name, seconds in (("database-failure", [3.0]), ("memory-pressure", [6.0]),
                              ("cascading-failure", [1.2, 1.2])):
            assert len(held[name]) == len(seconds), held
            for got, want in zip(held[name], seconds, strict=True):
                assert want <= got < want + 8.0, held
    assert run_cli("recover", "--list").stdout.strip() == "the ledger is empty"
