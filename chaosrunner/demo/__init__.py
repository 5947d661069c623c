"""The embedded demo system: a miniature of the seed's fleet control plane to break for real.

Separate processes on loopback, every network path through the embedded fault proxy:

- ``store``      config store node (primary / standby) on SQLite, async or sync log shipping
- ``supervisor`` failover supervisor: promotes, re-points the store proxy, fences, fails back
- ``api``        API node per region: configs REST, circuit breakers, load shedding, /metrics
- ``external``   the external dependency; ``router`` the front door across regions
- ``resilience`` breaker, shedder, memory watch; ``common`` service plumbing and metrics
- ``inventory``  ports, proxies and the targets inventory; ``launcher`` up / status / down;
  ``cli`` the ``chaosrunner demo`` commands.

From Python: ``start_demo(dir, free_ports=True)`` returns a :class:`Demo` once healthy
(``.inventory_path``, ``.ports``, ``.url(key)``); ``stop_demo(dir)``; ``demo_status(dir)``.
"""
from __future__ import annotations

from chaosrunner.demo.launcher import Demo, DemoError, demo_status, restart_component, start_demo, stop_demo

__all__ = ["Demo", "DemoError", "demo_status", "restart_component", "start_demo", "stop_demo"]
