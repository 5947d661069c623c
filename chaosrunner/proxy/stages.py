"""What each toxic does to traffic: one stage per toxic in a connection's one-direction pipeline.

A link (``link.py``) runs the data of one direction of one connection through its stages, in the
order the toxics were added, and then into the destination socket. A stage receives chunks with
``push(data, ts)`` (``ts`` = when the chunk was read, or when an earlier stage released it) and the
end of the stream with ``push_end(mode)``:

- ``"eof"``   the source finished sending: the destination is half-closed (FIN);
- ``"close"`` a toxic ends the connection (``timeout`` expiring or removed, ``limit_data`` reached):
              both sockets are closed once the data before it has been delivered;
- ``"reset"`` ``reset_peer``: both sockets are closed with SO_LINGER 0, so the peer gets a RST.

The end marker travels through the remaining stages like data, so a later ``latency`` or
``slow_close`` toxic delays it as the real server's channel chain does. Stages that hold data
(latency, bandwidth, slicer) keep it in one ordered queue per stage with one timer armed for its
head; a timer that fires early (uvloop's timers have 1 ms granularity) is re-armed instead of
sending early. Held bytes are reported to the link, which stops reading the source when too much
is held (flow control). When a toxic is removed or replaced, its stage releases what it holds at
once ("don't drop any data on the floor", as the real toxics do on interrupt).
"""
from __future__ import annotations

import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chaosrunner.proxy.link import Link
    from chaosrunner.proxy.toxics import ToxicSpec

clock = time.monotonic
#: A timer that fires this close to its deadline counts as on time (the clock read itself costs µs).
_ON_TIME = 50e-6


class Receiver(Protocol):
    def push(self, data: bytes, ts: float) -> None: ...

    def push_end(self, mode: str) -> None: ...


class Stage:
    """A toxic that lost its toxicity coin flip on this connection, and the base of all others: a pass-through."""

    holds_data = False

    def __init__(self, link: Link, spec: ToxicSpec) -> None:
        self.link = link
        self.spec = spec
        self.attrs = spec.attributes
        self.next: Receiver = link.sink

    def start(self) -> None:
        """The stage is in the chain: start timers the toxic runs from its start."""

    def push(self, data: bytes, ts: float) -> None:
        self.next.push(data, ts)

    def push_end(self, mode: str) -> None:
        self.next.push_end(mode)

    def flush(self) -> None:
        """Release everything held, now (the toxic is being removed or replaced)."""

    timer: Any = None

    def cancel(self) -> None:
        """The connection is closed: drop timers and held data (here: the stage's one timer)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def carry_state(self, old: Stage) -> None:
        """Take over per-connection state from the stage this one replaces (toxic updated)."""


class _Queued(Stage):
    """A stage that releases chunks at given instants, in order, from one queue with one timer."""

    holds_data = True

    def __init__(self, link: Link, spec: ToxicSpec) -> None:
        super().__init__(link, spec)
        self.queue: deque[tuple[float, bytes | None, str]] = deque()
        self.timer: Any = None
        self.last_due = 0.0

    def _enqueue(self, due: float, data: bytes | None, mode: str = "") -> None:
        self.queue.append((due, data, mode))
        if due > self.last_due:
            self.last_due = due
        if data:
            self.link.hold(len(data))
        if self.timer is None:
            self._arm(due)

    def _arm(self, due: float) -> None:
        loop = self.link.loop
        self.timer = loop.call_at(loop.time() + max(0.0, due - clock()), self._fire)

    def _fire(self) -> None:
        self.timer = None
        queue = self.queue
        now = clock()
        while queue and not self.link.closed:
            due, data, mode = queue[0]
            if due > now + _ON_TIME:
                self._arm(due)
                return
            queue.popleft()
            if data is None:
                self.next.push_end(mode)
            else:
                self.link.release(len(data))
                self.next.push(data, max(due, now))

    def push_end(self, mode: str) -> None:
        if self.queue:
            self._enqueue(self.last_due, None, mode)
        else:
            self.next.push_end(mode)

    def _pass_or_queue(self, data: bytes, ts: float) -> None:
        if self.queue:
            self._enqueue(self.last_due, data)
        else:
            self.next.push(data, ts)

    def flush(self) -> None:
        self.cancel_timer()
        queue, self.queue = self.queue, deque()
        for _due, data, mode in queue:
            if data is None:
                self.next.push_end(mode)
            else:
                self.link.release(len(data))
                self.next.push(data, clock())

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def cancel(self) -> None:
        self.cancel_timer()
        self.queue.clear()


class Latency(_Queued):
    """Each chunk leaves ``latency`` ± ``jitter`` ms after it arrived; delays overlap, order is kept."""

    def push(self, data: bytes, ts: float) -> None:
        delay = self.attrs.get("latency", 0)
        jitter = self.attrs.get("jitter", 0)
        if jitter > 0:
            delay += random.randrange(jitter * 2) - jitter
        due = ts + delay / 1000.0
        if due <= clock() and not self.queue:
            self.next.push(data, ts)
            return
        self._enqueue(max(due, self.last_due), data)


class Bandwidth(_Queued):
    """Passes at most ``rate`` KB/s (1 KB = 1000 bytes); big chunks leave in 100 ms slices."""

    def push(self, data: bytes, ts: float) -> None:
        rate = self.attrs.get("rate", 0)
        if rate <= 0:
            self._pass_or_queue(data, ts)
            return
        per_second = rate * 1000.0
        piece = rate * 100
        due = max(clock(), self.last_due)
        for offset in range(0, len(data), piece):
            part = data[offset:offset + piece]
            due += len(part) / per_second
            self._enqueue(due, part)


def slice_bounds(size: int, average: int, variation: int, rng: random.Random | Any = random) -> list[int]:
    """Cut points (0 … size) of the slicer toxic: halves recursively until a piece is within
    ``average`` + ``variation``, each cut moved by up to ± ``variation`` bytes."""
    average = max(1, average)
    variation = max(0, variation)
    cuts = [0]
    stack = [(0, size)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation or end - start < 2:
            cuts.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(variation * 2) - variation
        mid = min(max(mid, start + 1), end - 1)
        stack.append((mid, end))
        stack.append((start, mid))
    return cuts


class Slicer(_Queued):
    """Slices chunks into pieces of about ``average_size`` bytes, ``delay`` µs apart."""

    def push(self, data: bytes, ts: float) -> None:
        cuts = slice_bounds(len(data), self.attrs.get("average_size", 0), self.attrs.get("size_variation", 0))
        delay = max(0, self.attrs.get("delay", 0)) / 1e6
        if delay == 0 and not self.queue:
            for i in range(1, len(cuts)):
                self.next.push(data[cuts[i - 1]:cuts[i]], ts)
            return
        due = max(clock(), self.last_due)
        for i in range(1, len(cuts)):
            self._enqueue(due, data[cuts[i - 1]:cuts[i]])
            due += delay
        # The real toxic also waits ``delay`` after the last piece before reading the next chunk.
        self.last_due = due


class SlowClose(Stage):
    """Data passes; the end of the stream is delayed by ``delay`` ms."""

    timer: Any = None

    def push_end(self, mode: str) -> None:
        delay = max(0, self.attrs.get("delay", 0)) / 1000.0
        if delay == 0:
            self.next.push_end(mode)
            return
        self.pending = mode
        self.timer = self.link.loop.call_later(delay, self._release)

    def _release(self) -> None:
        self.timer = None
        if not self.link.closed:
            self.next.push_end(self.pending)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self._release()



class Timeout(Stage):
    """Data is dropped; after ``timeout`` ms (0 = never) the connection is closed."""

    timer: Any = None

    def start(self) -> None:
        timeout = self.attrs.get("timeout", 0)
        if timeout > 0:
            self.timer = self.link.loop.call_later(timeout / 1000.0, self._expire)

    def _expire(self) -> None:
        self.timer = None
        if not self.link.closed:
            self.next.push_end("close")

    def push(self, data: bytes, ts: float) -> None:
        pass  # dropped on the ground, as the real toxic does

    def push_end(self, mode: str) -> None:
        self.cancel()
        self.next.push_end(mode)

    def flush(self) -> None:
        self.cancel()



class ResetPeer(Stage):
    """On the first data (or end) after it is active, waits ``timeout`` ms and resets the connection (RST)."""

    timer: Any = None
    triggered = False

    def push(self, data: bytes, ts: float) -> None:
        self._trigger()

    def push_end(self, mode: str) -> None:
        self._trigger()

    def _trigger(self) -> None:
        if self.triggered:
            return
        self.triggered = True
        timeout = max(0, self.attrs.get("timeout", 0)) / 1000.0
        if timeout == 0:
            self.next.push_end("reset")
        else:
            self.timer = self.link.loop.call_later(timeout, self._reset)

    def _reset(self) -> None:
        self.timer = None
        if not self.link.closed:
            self.next.push_end("reset")

    def flush(self) -> None:
        self.cancel()



class LimitData(Stage):
    """Passes the first ``bytes`` bytes of the connection (this direction), then closes it."""

    transmitted = 0

    def carry_state(self, old: Stage) -> None:
        self.transmitted = getattr(old, "transmitted", 0)

    def push(self, data: bytes, ts: float) -> None:
        limit = self.attrs.get("bytes", 0)
        remaining = max(0, limit - self.transmitted)
        if remaining < len(data):
            data = data[:remaining]
        if data:
            self.transmitted += len(data)
            self.next.push(data, ts)
        if limit - self.transmitted <= 0:
            self.push = self._drop  # type: ignore[method-assign]
            self.push_end = self._ended  # type: ignore[method-assign]
            self.next.push_end("close")

    def _drop(self, data: bytes, ts: float) -> None:
        pass

    def _ended(self, mode: str) -> None:
        pass


STAGES: dict[str, type[Stage]] = {
    "noop": Stage, "latency": Latency, "bandwidth": Bandwidth, "slicer": Slicer, "slow_close": SlowClose,
    "timeout": Timeout, "reset_peer": ResetPeer, "limit_data": LimitData,
}


def make_stage(link: Link, spec: ToxicSpec) -> Stage:
    """The stage for ``spec`` on one link: the toxic if the toxicity coin flip says so, else a pass-through."""
    if random.random() < spec.toxicity:
        return STAGES[spec.type](link, spec)
    return Stage(link, spec)
