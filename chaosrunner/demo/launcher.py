"""Starting, repairing, inspecting and stopping the demo's processes (``demo up|status|down``).

    from chaosrunner.demo import start_demo, stop_demo, demo_status
    demo = start_demo(tmp_path / "demo", free_ports=True)      # returns once healthy
    demo.inventory_path, demo.url("router"), demo.ports["api_r1"]
    stop_demo(tmp_path / "demo")                               # every process gone, every port free

Layout of the demo directory: ``demo.json`` (ports, options, each component's command),
``proxies.json`` (the proxy's startup config), ``run/<component>.pid``, ``logs/<component>.log``,
``data/`` (SQLite files, supervisor state), ``targets/demo.yaml`` (the inventory).

Every component runs in its own session (it outlives the command that started it) and writes
its own pid file once it listens, so a component restarted by a fault driver
(``chaosrunner demo restart <component> --dir D``) is found like the original. A pid
file whose process is gone, or is another program now, is stale: it is removed. ``up`` on a
running demo says where it is and restarts only the components that died. ``down`` stops every
process whose command line names this demo directory (pid files are not trusted alone: a
component may have been killed and restarted), SIGTERM then SIGKILL, and checks every port.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from chaosrunner.demo import cgroups
from chaosrunner.demo import inventory as inv

HEALTH_PATH = {"proxy": "/version", "router": "/_router/health", "front-door": "/health"}
PORT_KEY = {"proxy": "proxy_api", "front-door": "router"}


class DemoError(RuntimeError):
    """The demo could not be started, or is not in the state asked for."""


DEFAULT_FAILOVER_AFTER = 2.0
"""Seconds the store primary must fail its health checks before the standby is promoted."""


@dataclass
class Demo:
    dir: Path
    ports: dict[str, int]
    sync: bool
    default_ports: bool
    failback: bool = False
    failover_after: float = DEFAULT_FAILOVER_AFTER
    already_up: bool = False
    restarted: list[str] = field(default_factory=list)
    startup_seconds: float = 0.0

    @property
    def inventory_path(self) -> Path:
        return self.dir / "targets" / "demo.yaml"

    def url(self, key: str) -> str:
        return inv.url(self.ports, key)


def _state(demo_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((demo_dir / "demo.json").read_text())
    except (OSError, ValueError):
        return None


def _pidfile(demo_dir: Path, component: str) -> Path:
    return demo_dir / "run" / f"{PORT_KEY.get(component, component)}.pid"


def _belongs(proc: psutil.Process, demo_dir: Path) -> bool:
    """Is this process a part of the demo in ``demo_dir`` (not merely a reused pid)?

    A component runs as ``PYTHON -m chaosrunner.demo.<part> ... --dir DIR`` or ``PYTHON -m
    chaosrunner.proxy ... --config DIR/proxies.json`` (``inventory.commands``). Naming the folder is
    not enough: ``chaosrunner demo up --dir DIR`` itself, or a shell or ``timeout`` around a ``demo
    down --dir DIR``, names it too and is not the demo's to stop."""
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if len(cmd) < 3 or cmd[1] != "-m" or not (cmd[2].startswith("chaosrunner.demo.") or cmd[2] == "chaosrunner.proxy"):
        return False
    d = str(demo_dir)
    return any(a == "--dir" and b == d for a, b in zip(cmd, cmd[1:], strict=False)) or \
        any(a == "--config" and b == str(demo_dir / "proxies.json") for a, b in zip(cmd, cmd[1:], strict=False))


def running_pid(demo_dir: Path, component: str) -> int | None:
    """The component's pid when it runs; a stale pid file is removed."""
    path = _pidfile(demo_dir, component)
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and _belongs(proc, demo_dir):
            return pid
    except psutil.NoSuchProcess:
        pass
    path.unlink(missing_ok=True)
    return None


def _members(demo_dir: Path) -> list[psutil.Process]:
    me = os.getpid()
    out = []
    for proc in psutil.process_iter(["pid"]):
        if proc.info["pid"] != me and _belongs(proc, demo_dir):
            out.append(proc)
    return out


CONFINED = ("api-r1", "api-r2")       # API nodes get a memory limit of their own (see cgroups.py)


def _spawn(demo_dir: Path, component: str, cmd: list[str]) -> subprocess.Popen[bytes]:
    (demo_dir / "logs").mkdir(parents=True, exist_ok=True)
    cgroup = None
    if component in CONFINED:
        port = cmd[cmd.index("--port") + 1]
        cgroup = cgroups.prepare(f"chaosrunner-demo-{component}-{port}")
        if cgroup is not None:
            cgroups.remember(demo_dir, cgroup)
    with open(demo_dir / "logs" / f"{component}.log", "ab") as log:
        if component in CONFINED and cgroup is None:
            log.write(b"demo: no cgroup could be created here; this node runs without a memory limit of its own\n")
            log.flush()
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=demo_dir, preexec_fn=(lambda: cgroups.join(cgroup)) if cgroup else None)


def _healthy(ports: dict[str, int], component: str, timeout: float = 0.5) -> bool:
    port = ports[PORT_KEY.get(component, component)]
    try:
        with urllib.request.urlopen(f"http://{inv.HOST}:{port}{HEALTH_PATH.get(component, '/health')}",
                                    timeout=timeout) as resp:
            return bool(resp.status == 200)
    except Exception:  # noqa: BLE001 - not (yet) healthy
        return False


def _wait(demo_dir: Path, ports: dict[str, int], procs: dict[str, subprocess.Popen[bytes]],
          timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(procs)
    while pending:
        for name, popen in list(pending.items()):
            if popen.poll() is not None:
                log = (demo_dir / "logs" / f"{name}.log").read_text(errors="replace").strip().splitlines()
                raise DemoError(f"{name} exited with {popen.returncode}: {log[-1] if log else 'no output'}")
            if _healthy(ports, name, 0.25):
                if name == "proxy":
                    _write_proxy_pid(demo_dir, popen.pid)
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"not healthy after {timeout:.0f}s: {', '.join(pending)} (see {demo_dir / 'logs'})")
        time.sleep(0.05)


def _write_proxy_pid(demo_dir: Path, pid: int) -> None:
    path = _pidfile(demo_dir, "proxy")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def _mode(sync: bool) -> str:
    return "sync" if sync else "async"


def _check_options(demo_dir: Path, state: dict[str, Any], sync: bool, failback: bool | None,
                   failover_after: float | None) -> None:
    """A running demo keeps its options: asking for other ones is an error, not a silent no-op."""
    down = "run `chaosrunner demo down` first"
    if bool(state["sync"]) != sync:
        raise DemoError(f"the demo is up in {_mode(state['sync'])} mode at {demo_dir}; {down} "
                        f"to start it in {_mode(sync)} mode")
    if failback is not None and bool(state.get("failback")) != failback:
        raise DemoError(f"the demo is up {'with' if state.get('failback') else 'without'} failback at {demo_dir}; "
                        f"{down} to change it")
    running = state.get("failover_after", DEFAULT_FAILOVER_AFTER)
    if failover_after is not None and abs(running - failover_after) > 1e-9:
        raise DemoError(f"the demo is up with failover after {running:g}s at {demo_dir}; {down} to change it")


def start_demo(demo_dir: str | Path = ".chaosrunner/demo", *, sync: bool = False, free_ports: bool = False,
               failback: bool | None = None, failover_after: float | None = None,
               replication_interval: float = 0.15, timeout: float = 20.0) -> Demo:
    """Start the demo (or repair a running one) and return once every component is healthy.

    ``failback``/``failover_after`` of None: the defaults (no automatic failback, 2 s) for a new
    demo, and whatever a running demo has. A running demo asked for other options raises DemoError.
    """
    started = time.monotonic()
    demo_dir = Path(demo_dir).resolve()
    state = _state(demo_dir)
    if state is not None and any(running_pid(demo_dir, c) for c in state["commands"]):
        _check_options(demo_dir, state, sync, failback, failover_after)
        return _repair(demo_dir, state, timeout, started)
    if failover_after is not None and not failover_after > 0:
        raise DemoError(f"failover delay must be more than 0s, got {failover_after:g}s")
    failback = bool(failback)
    failover_after = DEFAULT_FAILOVER_AFTER if failover_after is None else failover_after
    stop_demo(demo_dir)        # leftovers of a crashed demo: strays, stale pid files, old data
    ports, default = inv.choose_ports(prefer_defaults=not free_ports)
    cmds = inv.commands(ports, demo_dir, sync=sync, failback=failback, failover_after=failover_after,
                        replication_interval=replication_interval)
    for sub in ("run", "logs", "data", "targets"):
        (demo_dir / sub).mkdir(parents=True, exist_ok=True)
    for db in (demo_dir / "data").iterdir():
        db.unlink()
    (demo_dir / "proxies.json").write_text(json.dumps(inv.proxy_config(ports), indent=2))
    state = {"ports": ports, "sync": sync, "failback": failback, "failover_after": failover_after,
             "default_ports": default, "commands": cmds, "started_at": time.time()}
    (demo_dir / "demo.json").write_text(json.dumps(state, indent=2))
    inv.dump_inventory(inv.inventory(ports, demo_dir), demo_dir / "targets" / "demo.yaml",
                       f"# Inventory of the demo in {demo_dir} (written by `chaosrunner demo up`).\n"
                       f"# Options: {_mode(sync)} replication, failover after {failover_after:g}s, "
                       f"{'automatic failback to store-a' if failback else 'no automatic failback'}.\n")
    procs = {name: _spawn(demo_dir, name, cmd) for name, cmd in cmds.items()}
    try:
        _wait(demo_dir, ports, procs, timeout)
        _wait_front_door(ports, deadline=time.monotonic() + timeout)
    except BaseException:
        stop_demo(demo_dir)
        raise
    return Demo(demo_dir, ports, sync, default, failback=failback, failover_after=failover_after,
                startup_seconds=time.monotonic() - started)


def _wait_front_door(ports: dict[str, int], deadline: float) -> None:
    """The whole path works (router -> proxy -> API -> proxy -> store) and the supervisor saw the primary."""
    while not _healthy(ports, "front-door"):
        if time.monotonic() > deadline:
            raise DemoError("the router's /health (through both proxies to the store) did not answer 200")
        time.sleep(0.05)
    while True:
        try:
            with urllib.request.urlopen(f"{inv.url(ports, 'supervisor')}/primary", timeout=0.5) as resp:
                primary = resp.read().strip()
            with urllib.request.urlopen(f"{inv.url(ports, 'router')}/_router/status", timeout=0.5) as resp:
                regions = json.loads(resp.read())["regions"].values()
            if primary and all(r["up"] for r in regions):
                return
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise DemoError("the supervisor sees no store primary, or the router not every region up")
        time.sleep(0.05)


def _repair(demo_dir: Path, state: dict[str, Any], timeout: float, started: float) -> Demo:
    dead = [c for c in state["commands"] if running_pid(demo_dir, c) is None]
    procs = {c: _spawn(demo_dir, c, state["commands"][c]) for c in dead}
    _wait(demo_dir, state["ports"], procs, timeout)
    return Demo(demo_dir, state["ports"], state["sync"], state["default_ports"],
                failback=bool(state.get("failback")),
                failover_after=state.get("failover_after", DEFAULT_FAILOVER_AFTER), already_up=True,
                restarted=dead, startup_seconds=time.monotonic() - started)


def restart_component(demo_dir: str | Path, component: str, timeout: float = 10.0) -> int:
    """Start one component of a running demo again (the process driver's ``restart`` command); its pid."""
    demo_dir = Path(demo_dir).resolve()
    state = _state(demo_dir)
    if state is None or component not in state["commands"]:
        raise DemoError(f"no demo component {component!r} in {demo_dir}")
    pid = running_pid(demo_dir, component)
    if pid is not None:
        return pid
    popen = _spawn(demo_dir, component, state["commands"][component])
    _wait(demo_dir, state["ports"], {component: popen}, timeout)
    return popen.pid


def stop_demo(demo_dir: str | Path = ".chaosrunner/demo", grace: float = 3.0) -> list[int]:
    """Stop every process of the demo; the pids stopped. Raises DemoError if a port stays bound."""
    demo_dir = Path(demo_dir).resolve()
    procs = _members(demo_dir)
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    for pidfile in (demo_dir / "run").glob("*.pid") if (demo_dir / "run").exists() else []:
        pidfile.unlink(missing_ok=True)
    cgroups.remove_all(demo_dir)
    state = _state(demo_dir)
    if state is not None:
        # a port is "left behind" only if something still listens on it (TIME_WAIT is not)
        deadline = time.monotonic() + 2.0
        bound = _listening(set(state["ports"].values()))
        while bound and time.monotonic() < deadline:
            time.sleep(0.05)
            bound = _listening(set(state["ports"].values()))
        (demo_dir / "demo.json").unlink()
        if bound:
            raise DemoError(f"ports still listening after demo down: {', '.join(map(str, sorted(bound)))}")
    return [p.pid for p in procs]


def _listening(ports: set[int]) -> set[int]:
    """Which of these loopback ports have a listening socket."""
    try:
        return {c.laddr.port for c in psutil.net_connections("tcp4")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports}
    except psutil.AccessDenied:
        return {p for p in ports if not inv.port_free(p)}


def demo_status(demo_dir: str | Path = ".chaosrunner/demo") -> dict[str, Any]:
    """Each component's pid, port and health, the store's primary and the router's active region."""
    demo_dir = Path(demo_dir).resolve()
    state = _state(demo_dir)
    if state is None:
        return {"dir": str(demo_dir), "up": False, "components": {}}
    ports = state["ports"]
    components = {}
    for name in state["commands"]:
        pid = running_pid(demo_dir, name)
        port = ports[PORT_KEY.get(name, name)]
        components[name] = {"pid": pid, "port": port, "running": pid is not None,
                            "healthy": pid is not None and _healthy(ports, name)}
    extra: dict[str, Any] = {}
    for key, path in (("store", "/role"), ("router", "/_router/status")):
        port = ports["supervisor" if key == "store" else "router"]
        try:
            with urllib.request.urlopen(f"http://{inv.HOST}:{port}{path}", timeout=0.5) as resp:
                extra[key] = json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - shown as unknown
            extra[key] = {"error": str(exc)}
    return {"dir": str(demo_dir), "up": all(c["running"] for c in components.values()),
            "inventory": str(demo_dir / "targets" / "demo.yaml"), "sync": state["sync"],
            "failback": bool(state.get("failback")),
            "failover_after": state.get("failover_after", DEFAULT_FAILOVER_AFTER),
            "default_ports": state["default_ports"], "components": components,
            "primary": extra["store"].get("primary"), "term": extra["store"].get("term"),
            "active_region": extra["router"].get("active"), "front_door": inv.url(ports, "router")}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m chaosrunner.demo")
