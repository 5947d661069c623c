"""The demo's failover supervisor: watches the config store nodes, promotes, fences, fails back.

    python -m chaosrunner.demo.supervisor --port N --node store-a=URL --node store-b=URL \
        --proxy-api URL --store-proxy store [--failover-after 2] [--failback]

Nodes are given by their URL *through their own proxy* (so a partitioned node looks dead, as it
would from a real supervisor), the first being the initial primary. Every ``--interval`` (200 ms)
each node's ``GET /role`` is read (300 ms timeout). Then:

- the primary unreachable for ``--failover-after`` seconds: the reachable standby with the most
  log is promoted with the next term, and the store proxy's upstream is re-pointed to it through
  the Toxiproxy API (``POST /proxies/{name}``), so every client follows without reconfiguration;
- any other node that claims to be primary (an old primary back from a crash or a partition) is
  told to follow the current one: it re-syncs from a snapshot, discarding what it alone had;
  until then ``GET /role`` shows both claims (split brain, honestly);
- the store proxy is checked every fifth round (a restarted proxy starts with its initial upstream);
- a node restarted as primary comes back fenced and is confirmed (``/promote``) if it still is
  the primary;
- with ``--failback``, once the preferred node (the first) has followed and caught up for 3 s, a
  controlled switchover returns the primary role to it (writes pause for the switch, none lost);
- ``POST /switchover?candidate=store-a&wait=30`` asks for that switchover explicitly (as
  ``patronictl switchover`` does): it answers 200 once the candidate is the primary (at once if it
  already is), as soon as the candidate follows the primary and has caught up; 503 with the
  reason when that did not happen within ``wait`` seconds. The ready experiments end with it.

``GET /role``: ``{"primary": "<nodes claiming primary, comma-joined>", "expected", "term",
"nodes", "events"}``; ``GET /health``; ``GET /events``. State (primary, term) persists in ``--state``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from chaosrunner.demo.common import reply, serve
from chaosrunner.demo.supervising import SupervisorCore, switchover_handler

CAUGHT_UP_FOR = 3.0
#: how long a switchover may keep writes paused while the candidate replays the rest of the log;
#: below the API nodes' hold (api.SWITCHOVER_HOLD, 2 s), so an abandoned switchover is still a pause
DRAIN_FOR = 1.5


class Supervisor(SupervisorCore[str]):
    def __init__(self, nodes: dict[str, str], proxy_api: str, store_proxy: str, state_file: Path | None,
                 interval: float, failover_after: float, failback: bool) -> None:
        super().__init__(nodes, proxy_api, store_proxy, state_file, interval, failover_after)
        self.failback = failback
        self.released: set[str] = set()      # standbys the primary no longer waits for (sync mode)
        self.caught_up_since: float | None = None
        self.repoint_pending = False

    async def _post(self, url: str, body: dict[str, Any] | None = None, timeout: float = 1.0) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.post(url, json=body or {}, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    async def _read(self, name: str) -> None:
        assert self.http is not None
        try:
            async with self.http.get(f"{self.nodes[name]}/role", timeout=aiohttp.ClientTimeout(total=0.3)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                self.info[name] = {**json.loads(await resp.read()), "reachable": True}
                self.last_ok[name] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - unreachable for whatever reason
            self.info[name] = {**self.info.get(name, {}), "reachable": False, "error": f"{type(exc).__name__} {exc}"}

    async def _reconcile(self) -> None:
        now = time.monotonic()
        p = self.primary
        pinfo = self.info.get(p, {})
        if pinfo.get("reachable"):
            if not pinfo.get("writable") and pinfo.get("term", 0) <= self.term and (
                    pinfo.get("role") == "primary" or pinfo.get("following") is None):
                status, _ = await self._post(f"{self.nodes[p]}/promote", {"term": self.term})
                if status == 200:
                    self._event("confirmed", node=p, term=self.term)
        elif now - self.last_ok[p] >= self.failover_after:
            await self._failover(p)
        await self._release_sync_wait(now)
        self.rounds += 1
        if self.rounds % 5 == 0 and not self.repoint_pending:
            await self._check_proxy()
        if self.repoint_pending:
            await self._repoint()
        for name, info in self.info.items():
            if name == self.primary or not info.get("reachable"):
                continue
            want = self.nodes[self.primary]
            if info.get("role") == "primary" or info.get("following") != want or info.get("term", 0) < self.term:
                status, _ = await self._post(f"{self.nodes[name]}/follow", {"primary_url": want, "term": self.term})
                self._event("fenced" if info.get("role") == "primary" else "follow", node=name,
                            primary=self.primary, term=self.term, status=status)
        if self.switchover is not None:
            await self._serve_switchover()
        elif self.failback:
            await self._maybe_failback(now)

    async def _release_sync_wait(self, now: float) -> None:
        """Strict sync mode: only when a standby has been unreachable for the failover delay may its
        primary acknowledge alone (confirmed again with /promote). Until then writes wait for it."""
        p = self.primary
        if not self.info.get(p, {}).get("reachable") or self.info[p].get("mode") != "sync":
            return
        for name, info in self.info.items():
            if name == p:
                continue
            if info.get("reachable"):
                self.released.discard(name)
            elif name not in self.released and now - self.last_ok[name] >= self.failover_after:
                status, _ = await self._post(f"{self.nodes[p]}/promote", {"term": self.term})
                if status == 200:
                    self.released.add(name)
                    self._event("sync-standby-dropped", node=name, primary=p, term=self.term)

    async def _failover(self, old: str) -> None:
        candidates = [(info.get("seq", 0), n) for n, info in self.info.items()
                      if n != old and info.get("reachable")]
        if not candidates:
            return
        _, new = max(candidates)
        term = max(self.term, *(i.get("term", 0) for i in self.info.values())) + 1
        status, body = await self._post(f"{self.nodes[new]}/promote", {"term": term})
        if status != 200:
            self._event("promote-failed", node=new, status=status, body=body)
            return
        self.primary, self.term = new, term
        self._save()
        self._event("failover", old=old, new=new, term=term,
                    lost_from=self.info.get(old, {}).get("seq"), new_seq=self.info[new].get("seq"))
        self.repoint_pending = True
        await self._repoint()

    async def _check_proxy(self) -> None:
        """A restarted proxy comes back with its startup upstream: point it at the primary again."""
        assert self.http is not None
        try:
            async with self.http.get(f"{self.proxy_api}/proxies/{self.store_proxy}",
                                     timeout=aiohttp.ClientTimeout(total=0.5)) as resp:
                current = (await resp.json()).get("upstream") if resp.status == 200 else None
        except Exception:  # noqa: BLE001 - the proxy is down: nothing to fix yet
            return
        if current is not None and current != urlsplit(self.nodes[self.primary]).netloc:
            self.repoint_pending = True

    async def _repoint(self) -> None:
        upstream = urlsplit(self.nodes[self.primary]).netloc
        try:
            status, body = await self._post(f"{self.proxy_api}/proxies/{self.store_proxy}", {"upstream": upstream})
        except Exception as exc:  # noqa: BLE001 - retried next round
            self._event("repoint-failed", upstream=upstream, error=str(exc))
            return
        if status == 200:
            self.repoint_pending = False
            self._event("repointed", proxy=self.store_proxy, upstream=upstream)
        else:
            self._event("repoint-failed", upstream=upstream, status=status, body=body)

    def _caught_up(self, candidate: str) -> bool:
        """Is ``candidate`` a reachable standby following the current primary, close to its log?"""
        cand, cur = self.info.get(candidate, {}), self.info.get(self.primary, {})
        return bool(cand.get("reachable") and cur.get("reachable")
                    and cand.get("following") == self.nodes[self.primary]
                    and cand.get("seq", -1) >= cur.get("seq", 0) - 50)

    async def _maybe_failback(self, now: float) -> None:
        if self.primary == self.preferred or not self._caught_up(self.preferred):
            self.caught_up_since = None
            return
        if self.caught_up_since is None:
            self.caught_up_since = now
            return
        if now - self.caught_up_since < CAUGHT_UP_FOR:
            return
        await self._switchover(self.preferred, "failback")

    async def _switch(self, candidate: str) -> tuple[bool, str]:
        return await self._switchover(candidate, "switchover")

    async def _switchover(self, candidate: str, what: str) -> tuple[bool, str]:
        """Controlled switchover: writes pause on the primary, the candidate replays all of it, then
        takes over. Nothing acknowledged is lost: a candidate that does not catch up within
        ``DRAIN_FOR`` is abandoned and the old primary confirmed again. The API nodes hold the writes
        the demoted primary refuses meanwhile and retry them on whichever primary comes out of it."""
        old = self.primary
        await self._post(f"{self.nodes[old]}/demote")          # stop writes on the current primary
        deadline = time.monotonic() + DRAIN_FOR
        caught_up = False
        while time.monotonic() < deadline and not caught_up:
            await asyncio.gather(self._read(old), self._read(candidate))
            caught_up = self.info[candidate].get("seq", -1) >= self.info[old].get("seq", 0)
            if not caught_up:
                await asyncio.sleep(0.05)
        status, body = (await self._post(f"{self.nodes[candidate]}/promote", {"term": self.term + 1})
                        if caught_up else (0, f"it did not replay the primary's whole log within {DRAIN_FOR:g}s"))
        if status != 200:
            self._event(f"{what}-failed", node=candidate, status=status, body=body)
            await self._post(f"{self.nodes[old]}/promote", {"term": self.term})
            self.caught_up_since = None
            return False, f"{what} to {candidate} failed: {body}"
        self.primary, self.term, self.caught_up_since = candidate, self.term + 1, None
        self._save()
        self._event(what, old=old, new=candidate, term=self.term)
        self.repoint_pending = True
        await self._repoint()
        # the candidate has replayed the old primary's whole log: what the old one still waits to
        # have confirmed (sync mode) is on the new primary
        await self._post(f"{self.nodes[old]}/follow", {"primary_url": self.nodes[self.primary], "term": self.term,
                                                       "replayed": self.info[candidate].get("seq")})
        return True, f"{candidate} is the primary (term {self.term})"

    def role(self) -> dict[str, Any]:
        claims = [n for n, i in self.info.items() if i.get("reachable") and i.get("role") == "primary"
                  and i.get("writable")]
        return {"primary": ",".join(claims), "expected": self.primary, "term": self.term,
                "nodes": self.info, "events": self.events[-20:],
                "preferred": self.preferred, "failback": self.failback, "failover_after": self.failover_after}


def build_app(sup: Supervisor) -> web.Application:
    app = web.Application()

    async def role(request: web.Request) -> web.Response:
        return reply(sup.role())

    async def primary(request: web.Request) -> web.Response:
        return web.Response(text=sup.role()["primary"])

    async def health(request: web.Request) -> web.Response:
        return reply({"status": "ok", "primary": sup.primary, "term": sup.term})

    async def events(request: web.Request) -> web.Response:
        return reply(sup.events)

    def why_not(candidate: str) -> str:
        info = sup.info.get(candidate, {})
        if not info.get("reachable"):
            return "it is unreachable"
        return (f"it has not caught up with {sup.primary} (seq {info.get('seq')} of "
                f"{sup.info.get(sup.primary, {}).get('seq')})")

    switchover = switchover_handler(sup, why_not)

    app.add_routes([web.get("/role", role), web.get("/primary", primary), web.get("/health", health),
                    web.get("/events", events), web.post("/switchover", switchover)])
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m chaosrunner.demo.supervisor", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--node", action="append", required=True, metavar="NAME=URL",
                   help="a store node and its URL through its proxy; the first is the initial primary")
    p.add_argument("--proxy-api", required=True, help="Toxiproxy API URL")
    p.add_argument("--store-proxy", default="store", help="the proxy clients use to reach the primary")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--failover-after", type=float, default=2.0)
    p.add_argument("--failback", action="store_true")
    p.add_argument("--state", type=Path)
    p.add_argument("--pidfile")
    p.add_argument("--dir", help="the demo directory (lets `demo down` find this process)")
    args = p.parse_args(argv)
    nodes = dict(spec.split("=", 1) for spec in args.node)
    sup = Supervisor(nodes, args.proxy_api, args.store_proxy, args.state, args.interval, args.failover_after,
                     args.failback)

    async def make() -> web.Application:
        return build_app(sup)

    serve(make, args.host, args.port, args.pidfile, "supervisor", on_start=sup.start, on_stop=sup.stop)


if __name__ == "__main__":
    main()
