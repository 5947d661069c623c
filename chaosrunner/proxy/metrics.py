"""``/metrics`` in the Prometheus text format: bytes and connections per proxy.

The byte counters carry the real server's names and labels (``toxiproxy_proxy_received_bytes_total``
and ``toxiproxy_proxy_sent_bytes_total`` with ``direction``, ``proxy``, ``listener``, ``upstream``);
the connection counters are this server's additions. Served only when metrics are enabled.
"""
from __future__ import annotations

from collections.abc import Iterable

from chaosrunner.proxy.proxy import Proxy
from chaosrunner.proxy.toxics import DIRECTIONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def render(proxies: Iterable[Proxy]) -> str:
    """The exposition text for ``proxies``."""
    proxies = sorted(proxies, key=lambda p: p.name)
    received_lines: list[str] = []
    sent_lines: list[str] = []
    active_lines: list[str] = []
    total_lines: list[str] = []
    for proxy in proxies:
        received, sent = proxy.byte_counts()
        for direction in DIRECTIONS:
            labels = _labels(direction=direction, proxy=proxy.name, listener=proxy.listen, upstream=proxy.upstream)
            received_lines.append(f"toxiproxy_proxy_received_bytes_total{labels} {received[direction]}")
            sent_lines.append(f"toxiproxy_proxy_sent_bytes_total{labels} {sent[direction]}")
        labels = _labels(proxy=proxy.name, listener=proxy.listen, upstream=proxy.upstream)
        active_lines.append(f"toxiproxy_proxy_connections{labels} {len(proxy.connections)}")
        total_lines.append(f"toxiproxy_proxy_connections_total{labels} {proxy.totals.connections}")
    blocks = [
        ("toxiproxy_proxy_received_bytes_total", "counter", "Bytes read from the source of each direction.",
         received_lines),
        ("toxiproxy_proxy_sent_bytes_total", "counter", "Bytes written to the destination of each direction.",
         sent_lines),
        ("toxiproxy_proxy_connections", "gauge", "Connections open through the proxy now.", active_lines),
        ("toxiproxy_proxy_connections_total", "counter", "Connections accepted by the proxy.", total_lines),
    ]
    out: list[str] = []
    for name, kind, help_text, lines in blocks:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines)
    return "\n".join(out) + "\n"
