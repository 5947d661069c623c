"""The built-in probes: ``http``, ``tcp``, ``command`` and ``provider`` (a Chaos Toolkit probe).

HTTP probes share one aiohttp session per run (keep-alive: measurably cheaper than a new
connection per sample, and what a real client does); relative URLs resolve against the
inventory's ``base_url``.
"""
from __future__ import annotations

import asyncio
import shlex
from typing import Any

import aiohttp

from chaosrunner.probes.base import Outcome, ProbeContext, register_probe


def _session(ctx: ProbeContext) -> aiohttp.ClientSession:
    session = ctx.extras.get("http_session")
    if session is None or session.closed:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False),
                                        auto_decompress=True)
        ctx.extras["http_session"] = session
    return session


class HttpProbe:
    def __init__(self, spec: Any, name: str, ctx: ProbeContext):
        self.name, self.spec, self.ctx, self.timeout = name, spec, ctx, spec.timeout
        url = spec.url
        if url.startswith("/"):
            url = (ctx.base_url or "").rstrip("/") + url
        self.url = url
        codes = spec.expected_status
        self.expected = {codes} if isinstance(codes, int) else set(codes)

    async def check(self) -> Outcome:
        async with _session(self.ctx).request(self.spec.method, self.url, headers=self.spec.headers or None,
                                               data=self.spec.body, allow_redirects=False) as resp:
            body = await resp.text(errors="replace")
        ok = resp.status in self.expected and (self.spec.contains is None or self.spec.contains in body)
        error = None
        if resp.status not in self.expected:
            error = f"HTTP {resp.status} (expected {sorted(self.expected)}): {body}"     # cut once redacted
        elif not ok:
            error = f"body does not contain {self.spec.contains!r}"
        return Outcome(ok, resp.status, error)

    async def close(self) -> None:
        session = self.ctx.extras.pop("http_session", None)
        if session is not None:
            await session.close()


class TcpProbe:
    def __init__(self, spec: Any, name: str, ctx: ProbeContext):
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.host, self.port = spec.host, int(spec.port)

    async def check(self) -> Outcome:
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return Outcome(True, "connected")

    async def close(self) -> None:
        return None


async def run_command(argv: list[str]) -> tuple[int, str, str]:
    """Run a command to completion: (exit code, stdout, stderr). Cancelled (timeout): it is killed."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


class CommandProbe:
    def __init__(self, spec: Any, name: str, ctx: ProbeContext):
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.argv = shlex.split(spec.command) if isinstance(spec.command, str) else list(spec.command)

    async def check(self) -> Outcome:
        code, out, err = await run_command(self.argv)
        text = out.strip()
        ok = code == self.spec.expected_exit and (self.spec.contains is None or self.spec.contains in text)
        error = None if ok else f"exit {code}: {(err or text).strip()}"
        return Outcome(ok, text, error)                  # both cut once redacted (RedactingProbe)

    async def close(self) -> None:
        return None


class ProviderProbe:
    """A Chaos Toolkit probe, run in a worker thread, its value judged by a Chaos Toolkit tolerance."""

    def __init__(self, spec: Any, name: str, ctx: ProbeContext):
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.activity = spec.provider.to_activity(name, "probe")
        if spec.tolerance is not None:
            self.activity["tolerance"] = spec.tolerance

    def _run(self) -> Outcome:
        from chaoslib.hypothesis import within_tolerance

        from chaosrunner.drivers.ctk import run_ctk_activity

        value = run_ctk_activity(self.activity)
        if self.spec.tolerance is None:
            return Outcome(True, _short(value))
        ok = bool(within_tolerance(self.spec.tolerance, value, {}, {}))
        return Outcome(ok, _short(value), None if ok else f"value {_short(value)!r} is not within tolerance "
                                                          f"{self.spec.tolerance!r}")

    async def check(self) -> Outcome:
        return await asyncio.to_thread(self._run)

    async def close(self) -> None:
        return None


def _short(value: Any) -> Any:
    """A value as text (cut once redacted, by ``RedactingProbe``)."""
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return value if isinstance(value, str) else repr(value)


register_probe("http")(HttpProbe)
register_probe("tcp")(TcpProbe)
register_probe("command")(CommandProbe)
register_probe("provider")(ProviderProbe)
