"""Command line of the demo system: ``chaosrunner demo up|status|down`` (also ``python -m chaosrunner.demo``).

``up`` returns once every component answers and the whole path (router, proxies, API, store)
serves ``/health``; it prints the inventory to use. Exit codes: 0 done, 2 could not start or stop.
``restart`` starts one component of a running demo again (the process driver's restart command);
``inventory --portable`` prints the committed ``targets/demo.yaml``.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

DEFAULT_DIR = Path(".chaosrunner/demo")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The embedded demo system (the default target).")


@app.callback()
def _group() -> None:
    """The embedded demo system: API nodes, config store with failover, router, external service."""


@app.command()
def up(
    dir: Path = typer.Option(DEFAULT_DIR, "--dir", help="where pid files, logs, data and the inventory go"),
    sync: bool = typer.Option(False, "--sync", help="synchronous replication (nothing acknowledged is lost)"),
    failback: bool | None = typer.Option(None, "--failback/--no-failback",
                                         help="return the primary role to store-a on its own once it is back and "
                                              "caught up (default: no; the ready experiments ask for it explicitly)"),
    failover_after: str | None = typer.Option(None, "--failover-after", metavar="DURATION",
                                              help="how long the store primary must fail its health checks before "
                                                   "the standby is promoted (default 2s)"),
    free_ports: bool = typer.Option(False, "--free-ports", help="take free ports instead of the defaults"),
    replication_interval: float = typer.Option(0.15, "--replication-interval",
                                               help="async log-shipping interval in seconds"),
) -> None:
    """Start the demo (or restart the parts of a running one that died)."""
    from chaosrunner.demo.launcher import DemoError, start_demo
    from chaosrunner.units import parse_duration

    delay = None
    if failover_after is not None:
        try:
            delay = parse_duration(failover_after)
        except ValueError as exc:
            typer.echo(f"error: --failover-after {failover_after!r}: {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        demo = start_demo(dir, sync=sync, free_ports=free_ports, failback=failback, failover_after=delay,
                          replication_interval=replication_interval)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if demo.already_up:
        again = f"; restarted {', '.join(demo.restarted)}" if demo.restarted else ""
        typer.echo(f"The demo is already up in {demo.dir} (front door {demo.url('router')}){again}.")
    else:
        mode = "synchronous" if demo.sync else "asynchronous"
        back = "automatic failback" if demo.failback else "no automatic failback"
        typer.echo(f"Demo up in {demo.startup_seconds:.1f}s ({mode} replication, failover after "
                   f"{demo.failover_after:g}s, {back}): front door {demo.url('router')}, "
                   f"proxy API {demo.url('proxy_api')}, store roles {demo.url('supervisor')}/role")
    typer.echo(f"Inventory: {demo.inventory_path}")
    if not demo.default_ports:
        typer.echo("Default ports were not all free (or --free-ports): pass this inventory with "
                   f"--targets {demo.inventory_path}; the committed targets/demo.yaml does not apply.")


@app.command()
def status(
    dir: Path = typer.Option(DEFAULT_DIR, "--dir"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Show each component's process, port and health, the store primary and the active region."""
    from chaosrunner.demo.launcher import demo_status

    st = demo_status(dir)
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    elif not st["components"]:
        typer.echo(f"No demo in {st['dir']}.")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"demo in {st['dir']}")
        for col in ("component", "pid", "port", "state"):
            table.add_column(col)
        for name, c in st["components"].items():
            state = "healthy" if c["healthy"] else ("running, not healthy" if c["running"] else "DOWN")
            table.add_row(name, str(c["pid"] or "-"), str(c["port"]), state)
        console = Console()
        console.print(table)
        console.print(f"store primary: {st['primary'] or 'none'} (term {st['term']}); "
                      f"active region: {st['active_region']}; front door: {st['front_door']}", markup=False)
        console.print(f"replication: {'sync' if st['sync'] else 'async'}; failover after {st['failover_after']:g}s; "
                      f"failback: {'automatic' if st['failback'] else 'on request (POST /switchover)'}",
                      markup=False)
        console.print(f"inventory: {st['inventory']}", markup=False)
    if st["components"] and not st["up"]:
        raise typer.Exit(1)


@app.command()
def down(dir: Path = typer.Option(DEFAULT_DIR, "--dir")) -> None:
    """Stop every process of the demo (also those restarted or orphaned) and free its ports."""
    from chaosrunner.demo.launcher import DemoError, stop_demo

    try:
        pids = stop_demo(dir)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Demo down: stopped {len(pids)} process(es)." if pids else f"No demo process was running in {dir}.")


@app.command(hidden=True)
def restart(component: str, dir: Path = typer.Option(DEFAULT_DIR, "--dir")) -> None:
    """Start one component of a running demo again."""
    from chaosrunner.demo.launcher import DemoError, restart_component

    try:
        pid = restart_component(dir, component)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{component} running (pid {pid})")


@app.command(hidden=True)
def inventory(portable: bool = typer.Option(True, "--portable/--absolute"),
              dir: Path = typer.Option(DEFAULT_DIR, "--dir")) -> None:
    """Print the inventory for the default ports (the committed targets/demo.yaml)."""
    import yaml

    from chaosrunner.demo import inventory as inv

    data = inv.inventory(inv.DEFAULT_PORTS, dir if portable else dir.resolve(), portable=portable)
    typer.echo(inv.COMMITTED_HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120),
               nl=False)
