"""Command line of the fault proxy: ``chaosrunner proxy serve`` and the ``toxiproxy-server`` entry point.

``serve`` takes chaosrunner-style options; ``toxiproxy_server_main`` accepts the real server's Go-style
flags (``-host``, ``-port``, ``-config``, ``-proxy-metrics``, ``-seed``, ``-version``), so scripts written
for ``toxiproxy-server`` work unchanged. Both listen on loopback unless another host is given.
Once listening, one line goes to stdout: ``chaosrunner proxy: API listening on http://HOST:PORT``.
A port already in use prints the real server's error and exits with 2, without a traceback.
This module imports nothing heavy at import time (the main CLI mounts it).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
from pathlib import Path

import typer

READY_PREFIX = "chaosrunner proxy: API listening on "

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="The embedded Toxiproxy-compatible fault proxy.")


@app.callback()
def _group() -> None:
    """The embedded Toxiproxy-compatible fault proxy (Toxiproxy v2 HTTP API)."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address of the API (loopback unless set)"),
    port: int = typer.Option(8474, "--port", help="port of the API (0 = a free port)"),
    config: Path | None = typer.Option(None, "--config", help="JSON file of proxies to create on startup"),
    metrics: bool = typer.Option(False, "--metrics", help="serve /metrics (Prometheus text format)"),
) -> None:
    """Serve the Toxiproxy v2 API and its proxies until SIGINT or SIGTERM."""
    raise typer.Exit(run_server(host, port, config, metrics))


def run_server(host: str, port: int, config: Path | str | None, metrics: bool) -> int:
    """Run until SIGINT/SIGTERM; the exit code (0, or 2 when the API cannot listen)."""
    from chaosrunner.proxy.errors import ListenError
    from chaosrunner.proxy.server import ProxyServer, new_event_loop

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        server = ProxyServer(host, port, metrics=metrics, config=config)
        await server.start()
        print(f"{READY_PREFIX}{server.api_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await stop.wait()
        finally:
            await server.stop()

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def _go_flags() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toxiproxy-server", allow_abbrev=False,
                                     description="Toxiproxy-compatible server (chaosrunner's embedded proxy).")
    parser.add_argument("-host", "--host", default="127.0.0.1", help="Host for toxiproxy's API to listen on")
    parser.add_argument("-port", "--port", default="8474", help="Port for toxiproxy's API to listen on")
    parser.add_argument("-config", "--config", default="", help="JSON file containing proxies to create on startup")
    parser.add_argument("-seed", "--seed", type=int, default=None, help="Seed for randomizing toxics with")
    parser.add_argument("-proxy-metrics", "--proxy-metrics", action="store_true",
                        help="enable toxiproxy-specific prometheus metrics")
    parser.add_argument("-runtime-metrics", "--runtime-metrics", action="store_true",
                        help="accepted for compatibility; enables the same /metrics")
    parser.add_argument("-version", "--version", action="store_true", help="print the version")
    return parser


def toxiproxy_server_main(argv: list[str] | None = None) -> None:
    """``toxiproxy-server`` with the real server's flags."""
    args = _go_flags().parse_args(argv)
    if args.version:
        from chaosrunner.proxy.api import TOXIPROXY_VERSION

        print(f"toxiproxy-server version {TOXIPROXY_VERSION}")
        sys.exit(0)
    if not str(args.port).isdigit() or int(args.port) > 65535:
        print(f"error: listen tcp: address {args.port}: invalid port", file=sys.stderr)
        sys.exit(2)
    if args.seed is not None:
        random.seed(args.seed)
    sys.exit(run_server(args.host, int(args.port), args.config or None,
                        args.proxy_metrics or args.runtime_metrics))
