"""What the demo's two failover supervisors share: the embedded store's (``supervisor``) and
PostgreSQL's on docker-compose (``pgsupervisor``).

``SupervisorCore`` keeps the persisted ``(primary, term)``, an event log printed as JSON lines
(the supervisor's log file is its history), one round every ``interval`` — read every node
(``_read``), then act (``_reconcile``); a failing round is logged and never stops supervision —
and a pending switchover, which ``switchover_handler`` serves as ``POST /switchover``.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp
from aiohttp import web

from chaosrunner.demo.common import reply

Handler = Callable[[web.Request], Awaitable[web.Response]]
N = TypeVar("N")


class SupervisorCore(Generic[N]):
    def __init__(self, nodes: Mapping[str, N], proxy_api: str, store_proxy: str, state_file: Path | None,
                 interval: float, failover_after: float) -> None:
        self.nodes = dict(nodes)                 # name -> how to reach it; the first is the preferred primary
        self.proxy_api, self.store_proxy = proxy_api.rstrip("/"), store_proxy
        self.state_file, self.interval, self.failover_after = state_file, interval, failover_after
        self.preferred = next(iter(self.nodes))
        self.primary, self.term = self.preferred, 1
        if state_file is not None and state_file.exists():
            saved = json.loads(state_file.read_text())
            self.primary, self.term = saved["primary"], saved["term"]
        self.info: dict[str, dict[str, Any]] = {}
        self.last_ok: dict[str, float] = {n: time.monotonic() for n in self.nodes}
        self.switchover: tuple[str, asyncio.Future[tuple[bool, str]]] | None = None
        self.rounds = 0
        self.events: list[dict[str, Any]] = []
        self.http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def _save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"primary": self.primary, "term": self.term}))
            tmp.replace(self.state_file)

    def _event(self, what: str, **details: Any) -> None:
        self.events.append({"at": time.time(), "what": what, **details})
        del self.events[:-100]
        print(json.dumps(self.events[-1]), flush=True)

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.http is not None:
            await self.http.close()

    async def _read(self, name: str) -> None:
        """Refresh ``info[name]`` (``reachable`` and the node's own view) and ``last_ok[name]``."""
        raise NotImplementedError

    async def _reconcile(self) -> None:
        """Act on what this round read: fail over, fence, re-point, serve a switchover."""
        raise NotImplementedError

    def _caught_up(self, candidate: str) -> bool:
        """Can ``candidate`` take over now: a standby following the primary, close to its log?"""
        raise NotImplementedError

    async def _switch(self, candidate: str) -> tuple[bool, str]:
        """A controlled switchover to ``candidate``, losing nothing acknowledged: (switched, message)."""
        raise NotImplementedError

    async def _serve_switchover(self) -> None:
        """A pending ``POST /switchover``: done now if its candidate has caught up, else next round."""
        if self.switchover is None or self.switchover[1].done():
            self.switchover = None
            return
        candidate, answer = self.switchover
        if self.primary == candidate:
            result = (True, f"{candidate} is the primary")
        elif self._caught_up(candidate):
            result = await self._switch(candidate)
            if result[0]:     # read every node again, so that GET /role agrees with the 200 at once
                await asyncio.gather(*(self._read(n) for n in self.nodes))
        else:
            return
        if not answer.done():
            answer.set_result(result)
        self.switchover = None

    def role(self) -> dict[str, Any]:
        """``GET /role``: ``primary`` (the nodes claiming it, comma-joined), ``expected``, ``term``, ``nodes``."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await asyncio.gather(*(self._read(n) for n in self.nodes))
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bad round must not stop supervision
                self._event("error", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))


def switchover_handler(sup: SupervisorCore[Any], why_not: Callable[[str], str]) -> Handler:
    """``POST /switchover?candidate=NAME&wait=30``: park a request in ``sup.switchover``, which the
    supervisor's rounds resolve with ``(ok, message)`` once it has switched or given up;
    ``why_not(candidate)`` says why no switchover happened within ``wait``."""
    async def switchover(request: web.Request) -> web.Response:
        candidate = request.query.get("candidate", sup.preferred)
        try:
            wait = float(request.query.get("wait", "30"))
        except ValueError:
            return reply({"error": "wait must be a number of seconds, e.g. wait=30"}, 400)
        if candidate not in sup.nodes:
            return reply({"error": f"no store node {candidate!r}; nodes: {', '.join(sup.nodes)}"}, 400)
        if sup.switchover is not None and not sup.switchover[1].done():
            if sup.switchover[0] != candidate:
                return reply({"error": f"a switchover to {sup.switchover[0]} is already pending"}, 409)
            answer = sup.switchover[1]
        else:
            answer = asyncio.get_running_loop().create_future()
            sup.switchover = (candidate, answer)
        try:
            ok, message = await asyncio.wait_for(asyncio.shield(answer), wait)
        except TimeoutError:
            if sup.switchover is not None and sup.switchover[1] is answer:
                answer.cancel()             # given up: it must not happen later, unasked
                sup.switchover = None
            return reply({"error": f"no switchover to {candidate} within {wait:g}s: {why_not(candidate)}",
                          **sup.role()}, 503)
        return reply({"switched": ok, "message": message, **sup.role()}, 200 if ok else 503)

    return switchover
