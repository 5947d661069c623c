"""The ``role`` probe: which node serves as primary right now.

Three ways to ask, one per deployment style:

- ``http``: ``GET url``; the primary's identity is the body text, or a field of a JSON body
  (``field: primary`` or a dotted path such as ``cluster.leader``).
- ``sql``: one libpq connection string per node; every node is asked
  ``SELECT pg_is_in_recovery()`` concurrently, and the nodes answering ``false`` are primaries.
- ``command``: a command whose standard output names the primary.

The sample's ``role`` is the primary's name; several names joined with "," when several nodes
claim to be primary at once (split brain). The sample is ok only when exactly one node is
primary. ``value`` says what each node answered, for the report.
"""
from __future__ import annotations

import asyncio
import json
import shlex
from typing import Any

import aiohttp
import psycopg

from chaosrunner.model.probes import RoleProbeSpec
from chaosrunner.probes.base import Outcome, ProbeContext, register_probe
from chaosrunner.probes.builtin import run_command


def _outcome(primaries: list[str], value: Any) -> Outcome:
    names = list(dict.fromkeys(p.strip() for p in primaries if p and p.strip()))
    role = ",".join(names) or None
    if len(names) == 1:
        return Outcome(True, value, None, role)
    if not names:
        return Outcome(False, value, "no node answered as primary", None)
    return Outcome(False, value, f"split brain: {', '.join(names)} all claim to be primary", role)


def _dig(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


class HttpRoleProbe:
    def __init__(self, spec: RoleProbeSpec, name: str, ctx: ProbeContext):
        assert spec.http is not None
        self.name, self.timeout, self.source = name, spec.timeout, spec.http
        url = spec.http.url
        self.url = (ctx.base_url or "").rstrip("/") + url if url.startswith("/") else url
        self._session: aiohttp.ClientSession | None = None

    async def check(self) -> Outcome:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        async with self._session.get(self.url, allow_redirects=False) as resp:
            body = await resp.text(errors="replace")
        if resp.status != 200:
            return Outcome(False, resp.status, f"HTTP {resp.status}: {body}")     # cut once redacted
        if self.source.field is None:
            text = body.strip()
        else:
            try:
                found = _dig(json.loads(body), self.source.field)
            except ValueError:
                return Outcome(False, resp.status, f"body is not JSON: {body}")
            if found is None:
                return Outcome(False, resp.status, f"no field {self.source.field!r} in {body}")
            text = ",".join(map(str, found)) if isinstance(found, list) else str(found)
        return _outcome(text.replace("\n", ",").split(","), text)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SqlRoleProbe:
    """Keeps one connection per node; a broken connection is dropped and reopened next sample."""

    def __init__(self, spec: RoleProbeSpec, name: str, ctx: ProbeContext):
        assert spec.sql is not None
        self.name, self.timeout, self.nodes = name, spec.timeout, dict(spec.sql.nodes)
        # a node that hangs must not time the whole sample out: the others still answer
        self.node_timeout = max(0.05, spec.timeout * 0.8)
        self._conns: dict[str, psycopg.AsyncConnection[Any]] = {}

    async def _ask(self, node: str) -> bool:
        conn = self._conns.get(node)
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(self.nodes[node], autocommit=True)
                self._conns[node] = conn
            cur = await conn.execute("SELECT pg_is_in_recovery()")
            row = await cur.fetchone()
            return bool(row[0]) if row else True
        except BaseException:
            self._conns.pop(node, None)
            if conn is not None:
                asyncio.ensure_future(_close_quietly(conn))
            raise

    async def check(self) -> Outcome:
        names = list(self.nodes)
        answers = await asyncio.gather(*(asyncio.wait_for(self._ask(n), self.node_timeout) for n in names),
                                       return_exceptions=True)
        value: dict[str, str] = {}
        primaries = []
        for node, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                text = "timed out" if isinstance(answer, asyncio.TimeoutError) else str(answer).strip()
                value[node] = f"unreachable: {text.splitlines()[0] if text else type(answer).__name__}"
            elif answer:
                value[node] = "standby"
            else:
                value[node] = "primary"
                primaries.append(node)
        return _outcome(primaries, value)

    async def close(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        await asyncio.gather(*(_close_quietly(c) for c in conns))


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - the server may already be gone
        pass


class CommandRoleProbe:
    def __init__(self, spec: RoleProbeSpec, name: str, ctx: ProbeContext):
        assert spec.command is not None
        self.name, self.timeout = name, spec.timeout
        self.argv = shlex.split(spec.command) if isinstance(spec.command, str) else list(spec.command)

    async def check(self) -> Outcome:
        code, out, err = await run_command(self.argv)
        if code != 0:
            return Outcome(False, code, f"exit {code}: {err}")
        text = out.strip()
        return _outcome(text.replace("\n", ",").split(","), text)

    async def close(self) -> None:
        return None


@register_probe("role")
def build_role_probe(spec: RoleProbeSpec, name: str, ctx: ProbeContext) -> Any:
    if spec.http is not None:
        return HttpRoleProbe(spec, name, ctx)
    if spec.sql is not None:
        return SqlRoleProbe(spec, name, ctx)
    return CommandRoleProbe(spec, name, ctx)
