"""The embedded Toxiproxy-compatible fault proxy (server side).

It speaks the Toxiproxy v2 HTTP API, so ``toxiproxy-python``, ``chaostoolkit-toxiproxy`` and the
``toxiproxy`` driver use it exactly as the real Toxiproxy. Modules:

- ``server``  :class:`ProxyServer` (async) and :func:`start_in_thread` (sync, background thread)
- ``process`` :func:`start_subprocess`: the same server in a child process
- ``api``     HTTP routes and handlers; ``proxy`` proxies and their collection
- ``link``    one proxied connection (protocols, flow control); ``stages`` what each toxic does
- ``toxics``  toxic types and parsing; ``gojson`` Go-compatible decoding and messages
- ``metrics`` ``/metrics``; ``cli`` ``chaosrunner proxy serve`` and ``toxiproxy-server``
"""
from __future__ import annotations

from chaosrunner.proxy.errors import ApiError, ListenError
from chaosrunner.proxy.process import ProxyProcess, start_subprocess
from chaosrunner.proxy.server import ProxyServer, ThreadedProxyServer, start_in_thread

__all__ = ["ApiError", "ListenError", "ProxyProcess", "ProxyServer", "ThreadedProxyServer",
           "start_in_thread", "start_subprocess"]
