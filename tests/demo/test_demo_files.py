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
