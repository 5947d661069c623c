"""One proxied TCP connection: two sockets (``asyncio.Protocol``) and two links, one per direction.

The data path is callbacks only — no stream objects, no task per chunk. With no toxic on a
direction, ``data_received`` writes straight into the other transport; otherwise the chunk goes
through the link's stages (``stages.py``). Flow control: when the destination transport's buffer
is full (``pause_writing``) or the stages hold too much, the source stops being read.

Ending a connection:
- a source's EOF half-closes the destination (``write_eof``); when both directions ended, both
  sockets are closed;
- ``close()`` (a toxic ending the connection, a peer lost) closes both sockets after flushing;
- ``reset()`` (``reset_peer``, and a proxy disabled, deleted or re-pointed) closes both with
  SO_LINGER 0: the peers get a RST and no socket of ours lingers in TIME_WAIT.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any

from chaosrunner.proxy.stages import Stage, clock, make_stage

if TYPE_CHECKING:
    from chaosrunner.proxy.proxy import Proxy
    from chaosrunner.proxy.toxics import ToxicSpec

log = logging.getLogger(__name__)

_WRITE_FULL, _HOLD_FULL, _CONNECTING = 1, 2, 4
#: Bytes the stages of one link may hold before the source stops being read.
HOLD_HIGH, HOLD_LOW = 4 * 1024 * 1024, 1024 * 1024
_LINGER_ZERO = struct.pack("ii", 1, 0)


def _sockopt(transport: Any, level: int, option: int, value: Any) -> None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(level, option, value)
        except (OSError, ValueError):
            pass


class Side(asyncio.Protocol):
    """One socket of a proxied connection (the client's or the upstream's)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.transport: Any = None
        self.eof_seen = False
        self.out_link: Link  # the link this socket feeds
        self.in_link: Link  # the link that writes into this socket

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        _sockopt(transport, socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self is self.conn.client:
            self.conn.client_made()

    def data_received(self, data: bytes) -> None:
        link = self.out_link
        size = len(data)
        link.rx += size
        if link.direct:
            link.dst_transport.write(data)
            link.tx += size
        elif not self.conn.closed:
            link.head.push(data, clock())

    def eof_received(self) -> bool:
        # uvloop can report the same EOF twice when reading was paused and resumed around it.
        if not self.conn.closed and not self.eof_seen:
            self.eof_seen = True
            self.out_link.head.push_end("eof")
        return True  # keep the transport: the other direction may still be sending

    def pause_writing(self) -> None:
        self.in_link.pause_source(_WRITE_FULL)

    def resume_writing(self) -> None:
        self.in_link.resume_source(_WRITE_FULL)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.side_lost(self)


class Sink:
    """The end of a link: writes into the destination socket."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def push(self, data: bytes, ts: float) -> None:
        link = self.link
        transport = link.dst_transport
        if transport is None:
            # Not connected yet (uvloop may deliver data even though reading was paused).
            link.early.append((data, ts))
            link.hold(len(data))
        elif not transport.is_closing():
            transport.write(data)
            link.tx += len(data)

    def push_end(self, mode: str) -> None:
        link = self.link
        if link.dst_transport is None and not link.conn.closed:
            link.early_end = mode
            return
        link.conn.end_link(link, mode)


class Link:
    """One direction of one connection: source socket → stages (one per toxic) → destination socket."""

    def __init__(self, conn: Connection, direction: str, src: Side, dst: Side) -> None:
        self.conn = conn
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.direction = direction
        self.src, self.dst = src, dst
        src.out_link = self
        dst.in_link = self
        self.dst_transport: Any = dst.transport
        self.sink: Sink = Sink(self)
        self.stages: list[Stage] = []
        self.head: Stage | Sink = self.sink
        self.direct = False  # until build(): data goes through the sink, which checks the destination
        self.ended = False
        self.held = 0
        self.paused = 0
        self.rx = 0
        self.tx = 0
        self.early: list[tuple[bytes, float]] = []  # read before the destination was connected
        self.early_end = ""

    @property
    def closed(self) -> bool:
        return self.conn.closed

    # --- toxics -------------------------------------------------------------------------------
    def _rewire(self) -> None:
        stages = self.stages
        for i, stage in enumerate(stages):
            stage.next = stages[i + 1] if i + 1 < len(stages) else self.sink
        self.head = stages[0] if stages else self.sink
        self.direct = not stages and self.dst_transport is not None

    def build(self, specs: list[ToxicSpec]) -> None:
        self.stages = [make_stage(self, spec) for spec in specs]
        self._rewire()
        for stage in self.stages:
            stage.start()
        early, self.early = self.early, []
        for data, ts in early:
            self.release(len(data))
            if not self.closed:
                self.head.push(data, ts)
        if self.early_end and not self.closed:
            self.head.push_end(self.early_end)

    def add_toxic(self, spec: ToxicSpec) -> None:
        stage = make_stage(self, spec)
        self.stages.append(stage)
        self._rewire()
        stage.start()

    def _index(self, name: str) -> int:
        for i, stage in enumerate(self.stages):
            if stage.spec.name == name:
                return i
        return -1

    def remove_toxic(self, name: str) -> None:
        i = self._index(name)
        if i < 0:
            return
        stage = self.stages.pop(i)
        successor = stage.next
        self._rewire()
        stage.flush()
        if stage.spec.type == "timeout" and not self.closed:
            # The real timeout toxic's cleanup closes its stub: removing it ends the connection.
            successor.push_end("close")

    def update_toxic(self, spec: ToxicSpec) -> None:
        i = self._index(spec.name)
        if i < 0:
            return
        old = self.stages[i]
        new = make_stage(self, spec)  # a fresh toxicity coin flip, as the real server re-runs the toxic
        new.carry_state(old)
        self.stages[i] = new
        self._rewire()
        old.flush()
        new.start()

    def cancel(self) -> None:
        for stage in self.stages:
            stage.cancel()

    # --- flow control -------------------------------------------------------------------------
    def pause_source(self, reason: int) -> None:
        was = self.paused
        self.paused |= reason
        transport = self.src.transport
        if not was and transport is not None and not transport.is_closing():
            try:
                transport.pause_reading()
            except (RuntimeError, AttributeError):
                pass

    def resume_source(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        transport = self.src.transport
        if not self.paused and transport is not None and not transport.is_closing():
            try:
                transport.resume_reading()
            except (RuntimeError, AttributeError):
                pass

    def hold(self, size: int) -> None:
        self.held += size
        if self.held > HOLD_HIGH and not self.paused & _HOLD_FULL:
            self.pause_source(_HOLD_FULL)

    def release(self, size: int) -> None:
        self.held -= size
        if self.paused & _HOLD_FULL and self.held <= HOLD_LOW:
            self.resume_source(_HOLD_FULL)


class Connection:
    """A client accepted by a proxy, and its connection to the upstream."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop: asyncio.AbstractEventLoop = proxy.loop
        self.closed = False
        self.ready = False  # links built: toxic changes now apply to this connection
        self.client = Side(self)
        self.upstream = Side(self)
        self.up = Link(self, "upstream", self.client, self.upstream)
        self.down = Link(self, "downstream", self.upstream, self.client)
        self.task: asyncio.Task[None] | None = None

    def links(self) -> tuple[Link, Link]:
        return self.up, self.down

    def client_made(self) -> None:
        self.down.dst_transport = self.client.transport
        self.up.pause_source(_CONNECTING)
        self.proxy.connection_opened(self)
        self.task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            host, port = self.proxy.upstream_address()
            transport, _ = await self.loop.create_connection(lambda: self.upstream, host, port)
        except (OSError, ValueError) as exc:
            log.info("proxy %s: unable to open connection to upstream %s: %s", self.proxy.name,
                     self.proxy.upstream, exc)
            self.task = None
            self.close()
            return
        self.task = None
        if self.closed:
            transport.abort()
            return
        self.up.dst_transport = transport
        for link in self.links():
            link.build(self.proxy.toxics_for(link.direction))
        self.ready = True
        self.up.resume_source(_CONNECTING)

    def end_link(self, link: Link, mode: str) -> None:
        """A link's stream ended (``eof``), or a toxic ends the connection (``close``, ``reset``)."""
        if self.closed:
            return
        if mode == "reset":
            self.reset()
            return
        if mode == "close":
            self.close()
            return
        if link.ended:
            return
        link.ended = True
        other = self.down if link is self.up else self.up
        transport = link.dst_transport
        if other.ended or transport is None:
            self.close()
            return
        try:
            if transport.can_write_eof():
                transport.write_eof()
                return
        except (OSError, RuntimeError):
            pass
        self.close()

    def side_lost(self, side: Side) -> None:
        """A socket was closed under us (peer reset, error): flush what its link holds, then close."""
        if not self.closed:
            side.out_link.head.push_end("close")

    def _finish(self) -> list[Any]:
        self.closed = True
        if self.task is not None:
            self.task.cancel()
        for link in self.links():
            link.cancel()
        self.proxy.connection_closed(self)
        return [t for t in (self.client.transport, self.upstream.transport) if t is not None]

    def close(self) -> None:
        """Close both sockets once their buffered data is written."""
        if self.closed:
            return
        for transport in self._finish():
            transport.close()

    def reset(self) -> None:
        """Close both sockets at once with SO_LINGER 0: the peers get a RST, nothing lingers in TIME_WAIT."""
        if self.closed:
            return
        for transport in self._finish():
            _sockopt(transport, socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            transport.abort()
