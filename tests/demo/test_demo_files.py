"""Fast checks of the demo's files: the committed inventories, docker-compose.yml, port choice."""
from __future__ import annotations

import socket
from pathlib import Path

import yaml
from typer.testing import CliRunner

from chaosrunner.demo import inventory as inv
from chaosrunner.demo.cli import app
from chaosrunner.model.targets import Inventory

ROOT = Path(__file__).resolve().parents[2]
SEED_AND_DEMO = {"postgres-primary", "database", "api-server", "external-service", "api", "store-primary",
                 "store-standby", "api-r1", "api-r2", "region-1", "region-2", "router"}


def test_committed_demo_inventory_is_the_generated_one():
    out = CliRunner().invoke(app, ["inventory"])
    assert out.exit_code == 0
    assert (ROOT / "targets" / "demo.yaml").read_text() == out.output, \
        "regenerate: python -m chaosrunner.demo inventory > targets/demo.yaml"
    data = Inventory.model_validate(yaml.safe_load(out.output))
    assert SEED_AND_DEMO <= set(data.targets) and data.environment == "demo"
    assert data.base_url == f"http://127.0.0.1:{inv.DEFAULT_PORTS['router']}"


def test_busy_default_port_means_free_ports_for_all():
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", inv.DEFAULT_PORTS["router"]))
            s.listen()
        except OSError:
            pass                      # already taken (a demo on the default ports): just as good
        ports, default = inv.choose_ports()
    assert not default and ports["router"] != inv.DEFAULT_PORTS["router"]
    assert len(set(ports.values())) == len(ports)


def test_compose_inventory_names_services_that_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    data = Inventory.model_validate(yaml.safe_load((ROOT / "targets" / "compose.yaml").read_text()))
    assert SEED_AND_DEMO <= set(data.targets)
    toxiproxy_config = (ROOT / "docker" / "toxiproxy.json")
    import json

    proxies = {p["name"]: p for p in json.loads(toxiproxy_config.read_text())}
    for name, target in data.targets.items():
        if target.toxiproxy:
            assert target.toxiproxy.proxy in proxies, f"{name}: no proxy {target.toxiproxy.proxy}"
        for handle in (target.vars.get("compose_service"),):
            if handle:
                assert handle in services, f"{name}: no compose service {handle}"
    for proxy in proxies.values():
        host = proxy["upstream"].split(":")[0]
        assert host in services or host == "localhost", f"proxy {proxy['name']} points to {host}, not a compose service"
        port = proxy["listen"].rsplit(":", 1)[1]
        assert any(str(p).endswith(f":{port}") for p in services["toxiproxy"]["ports"]), proxy
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        if "build" in svc:
            assert (ROOT / svc["build"]["context"] / svc["build"].get("dockerfile", "Dockerfile")).exists()
    assert "postgres-replica" in services and "prometheus" in services
    prom = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    scraped = {t.split(":")[0] for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert scraped <= set(services)


#: ready experiments that cannot run on docker-compose, with the reason (none, today)
NOT_ON_COMPOSE: dict[str, str] = {}


def test_every_ready_experiment_plans_against_the_compose_inventory():
    from chaosrunner import api

    files = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.stem != "quickstart")
    assert {p.stem for p in files} >= {"database-failure", "memory-pressure", "cascading-failure",
                                       "db-failover-async", "db-failover-sync", "api-latency", "region-partition"}
    for path in files:
        if path.stem in NOT_ON_COMPOSE:
            continue
        plans = api.plan(path, targets=ROOT / "targets" / "compose.yaml")
        assert plans and all(p.environment == "compose" for p in plans), path.name
        for p in plans:
            drivers = {f.driver for s in p.steps for f in s.faults}
            assert drivers and drivers <= {"toxiproxy", "process", "resource"}, (path.name, drivers)


def test_compose_supervisor_and_process_handles_match_the_services():
    """The supervisor the experiments read, and the command lines the process handles match."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    data = Inventory.model_validate(yaml.safe_load((ROOT / "targets" / "compose.yaml").read_text()))
    sup = compose["supervisor"]
    assert "chaosrunner.demo.pgsupervisor" in sup["command"] and "127.0.0.1:18090:18090" in sup["ports"]
    assert data.targets["supervisor"].url == "http://127.0.0.1:18090"
    nodes = [sup["command"][i + 1] for i, a in enumerate(sup["command"]) if a == "--node"]
    assert [n.split("=")[0] for n in nodes] == ["store-a", "store-b"]          # the embedded demo's names
    assert "\n".join(nodes).count("host=toxiproxy") == 2                       # through their proxies
    node_names = {s: compose[s]["environment"]["NODE_NAME"] for s in ("postgres-primary", "postgres-replica")}
    assert node_names == {"postgres-primary": "store-a", "postgres-replica": "store-b"}
    assert 'cluster_name="$NODE_NAME"' in (ROOT / "docker" / "postgres-node.sh").read_text()
    for name, target in data.targets.items():
        if target.process is None:
            continue
        service = compose[target.vars["compose_service"]]
        cmd = " ".join(service.get("command", []))
        match = target.process.match or ""
        if match.startswith("cluster_name=") or ": walreceiver" in match:
            assert service["environment"]["NODE_NAME"] in match, name
        else:
            assert match in cmd, (name, match, cmd)
        if target.process.restart:
            assert target.process.restart[-1] == f"chaosrunner-demo-{target.vars['compose_service']}-1"
    for api_node in ("api-r1", "api-r2"):
        assert compose[api_node]["mem_limit"] == "768m"
    for pg in ("postgres-primary", "postgres-replica"):
        assert compose[pg]["restart"] == "unless-stopped" and compose[pg]["user"] == "postgres"
