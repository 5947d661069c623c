"""The demo's layout: its ports, the proxies in front of every path, and the targets inventory.

Ports. The demo first tries fixed default ports (``DEFAULT_PORTS``, in the 18000s, away from
the usual 8080/8474 so a real Toxiproxy or another service can keep those). The committed
``targets/demo.yaml`` at the repository root is generated from these defaults, so the ready
experiments work right after ``chaosrunner demo up`` with no extra flag. When any default port is
taken (or ``--free-ports`` is given, as the tests do), the demo takes free loopback ports for
all of its parts instead and says so; the inventory it writes into its directory
(``<dir>/targets/demo.yaml``) is then the one to pass with ``--targets``. That generated
inventory always names absolute pid files; the committed one finds processes by a command-line
match on their default port, so it does not depend on the directory the demo was started from.

Network paths (every one through the proxy; the proxy names are Toxiproxy proxy names):

    client ─► router ─► api_r1 / api_r2 ─► API nodes ─► store ─► postgres_primary ─► store-a
                                                     │        (re-pointed to postgres_standby ─► store-b
                                                     │         by the supervisor on failover)
                                                     └─► external_service ─► external service
    supervisor ─► postgres_primary / postgres_standby (health checks, promote, follow)
    store-b (standby) ─► postgres_primary (pulls the write log from the primary)
"""
from __future__ import annotations

import copy
import socket
import sys
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

DEFAULT_PORTS: dict[str, int] = {
    "proxy_api": 18474, "router": 18080, "supervisor": 18090,
    "store-a": 18101, "store-b": 18102, "external": 18103, "api-r1": 18111, "api-r2": 18112,
    # proxy listeners
    "store": 18200, "postgres_primary": 18201, "postgres_standby": 18202, "external_service": 18203,
    "api_r1": 18211, "api_r2": 18212,
}

#: proxy name -> (its listener's port key, its upstream's port key)
PROXIES: dict[str, str] = {
    "postgres_primary": "store-a", "postgres_standby": "store-b", "store": "postgres_primary",
    "external_service": "external", "api_r1": "api-r1", "api_r2": "api-r2",
}

COMPONENTS = ("proxy", "store-a", "store-b", "external", "supervisor", "api-r1", "api-r2", "router")


def port_free(port: int) -> bool:
    """Could a service listen here? (SO_REUSEADDR as the services use it: TIME_WAIT does not count.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def choose_ports(prefer_defaults: bool = True) -> tuple[dict[str, int], bool]:
    """The ports to use and whether they are the defaults (every default free), else all free ones."""
    if prefer_defaults and all(port_free(p) for p in DEFAULT_PORTS.values()):
        return dict(DEFAULT_PORTS), True
    return dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True)), False


def url(ports: dict[str, int], key: str) -> str:
    return f"http://{HOST}:{ports[key]}"


def proxy_config(ports: dict[str, int]) -> list[dict[str, Any]]:
    """The proxies, in the format of ``toxiproxy-server -config`` (and ``POST /populate``)."""
    return [{"name": name, "listen": f"{HOST}:{ports[name]}", "upstream": f"{HOST}:{ports[up]}", "enabled": True}
            for name, up in PROXIES.items()]


def commands(ports: dict[str, int], demo_dir: Path, *, sync: bool, failback: bool,
             replication_interval: float, failover_after: float,
             python: str = sys.executable) -> dict[str, list[str]]:
    """The command line of each component. ``--port`` comes first so a command-line match can find it."""
    d = str(demo_dir)
    run, data = demo_dir / "run", demo_dir / "data"

    def component(module: str, port_key: str, *args: str) -> list[str]:
        return [python, "-m", f"chaosrunner.demo.{module}", "--port", str(ports[port_key]), *args,
                "--pidfile", str(run / f"{port_key}.pid"), "--dir", d]

    store_args = ["--interval", str(replication_interval)] + (["--sync"] if sync else [])
    return {
        "proxy": [python, "-m", "chaosrunner.proxy", "serve", "--host", HOST, "--port", str(ports["proxy_api"]),
                  "--config", str(demo_dir / "proxies.json")],
        "store-a": component("store", "store-a", "--name", "store-a", "--db", str(data / "store-a.db"),
                             "--role", "primary", *store_args),
        "store-b": component("store", "store-b", "--name", "store-b", "--db", str(data / "store-b.db"),
                             "--role", "standby", "--follow", url(ports, "postgres_primary"), *store_args),
        "external": component("external", "external"),
        "supervisor": component("supervisor", "supervisor", "--node", f"store-a={url(ports, 'postgres_primary')}",
                                "--node", f"store-b={url(ports, 'postgres_standby')}",
                                "--proxy-api", url(ports, "proxy_api"), "--store-proxy", "store",
                                "--state", str(data / "supervisor.json"), "--failover-after", f"{failover_after:g}",
                                *(["--failback"] if failback else [])),
        "api-r1": component("api", "api-r1", "--name", "api-r1", "--region", "r1", "--store", url(ports, "store"),
                            "--external", url(ports, "external_service")),
        "api-r2": component("api", "api-r2", "--name", "api-r2", "--region", "r2", "--store", url(ports, "store"),
                            "--external", url(ports, "external_service")),
        "router": component("router", "router", "--region", f"r1={url(ports, 'api_r1')}",
                            "--region", f"r2={url(ports, 'api_r2')}"),
    }


def inventory(ports: dict[str, int], demo_dir: Path, *, portable: bool = False) -> dict[str, Any]:
    """The targets inventory. ``portable``: the committed form (command-line matches, relative dir).

    A component is restarted with ``chaosrunner demo restart``: the process driver runs a leading
    ``chaosrunner`` with its own interpreter, so the inventory works whatever PATH holds (a venv
    that is not activated, the README's ``.venv/bin/chaosrunner``)."""
    api = url(ports, "proxy_api")

    def process(component: str) -> dict[str, Any]:
        restart = ["chaosrunner", "demo", "restart", component, "--dir", str(demo_dir)]
        if portable:
            module = "proxy serve --host 127.0.0.1" if component == "proxy" else \
                f"demo.{component.split('-')[0]}"
            port_key = "proxy_api" if component == "proxy" else component
            return {"match": f"chaosrunner.{module} --port {ports[port_key]}", "restart": restart}
        return {"pidfile": str(demo_dir / "run" / f"{'proxy_api' if component == 'proxy' else component}.pid"),
                "restart": restart}

    def node(proxy: str, component: str, description: str) -> dict[str, Any]:
        return {"description": description, "url": url(ports, proxy),
                "toxiproxy": {"api": api, "proxy": proxy}, "process": process(component)}

    primary = node("postgres_primary", "store-a", "config store node store-a (the initial primary)")
    standby = node("postgres_standby", "store-b", "config store node store-b (the initial standby)")
    database = {"description": "the path from the API nodes to whichever store node is primary",
                "url": url(ports, "store"), "toxiproxy": {"api": api, "proxy": "store"}}
    targets: dict[str, Any] = {
        "api": {"description": "the front door (router) clients and probes use", "url": url(ports, "router")},
        "router": {"description": "sends traffic to a healthy region", "url": url(ports, "router"),
                   "process": process("router")},
        "api-r1": node("api_r1", "api-r1", "API node of region r1"),
        "api-r2": node("api_r2", "api-r2", "API node of region r2"),
        "api-server": {"description": "the API servers of both regions", "group": ["api-r1", "api-r2"]},
        "store-primary": primary, "postgres-primary": copy.deepcopy(primary),
        "store-standby": standby, "postgres-standby": copy.deepcopy(standby),
        "database": database, "store": copy.deepcopy(database),
        "external-service": node("external_service", "external", "the external dependency of /fleet/status"),
        "supervisor": {"description": "failover supervisor; GET /role names the primary",
                       "url": url(ports, "supervisor"), "process": process("supervisor")},
        "proxy": {"description": "the fault proxy (Toxiproxy API)", "url": api, "process": process("proxy")},
        "region-1": {"description": "region r1: its API node and the store node it hosts",
                     "group": ["api-r1", "store-primary"]},
        "region-2": {"description": "region r2: its API node and the store node it hosts",
                     "group": ["api-r2", "store-standby"]},
    }
    return {"environment": "demo", "base_url": url(ports, "router"), "targets": targets}


def dump_inventory(data: dict[str, Any], path: Path, header: str) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + text)
    tmp.replace(path)


COMMITTED_HEADER = """\
# Inventory of the embedded demo system (`chaosrunner demo up`) on its default ports.
# Generated by chaosrunner.demo.inventory (python -m chaosrunner.demo inventory --portable);
# a test checks it matches. When a default port is taken, `demo up` uses free ports and writes
# the inventory to use into its directory: pass that one with --targets.
# Roles: GET ${supervisor.url}/role names the store primary (field "primary").
"""
