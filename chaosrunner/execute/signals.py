"""Signals for the whole of a run: from before the first fault until its report is written.

The first SIGINT, SIGTERM or SIGHUP (a closed terminal) aborts the run: every fault is reverted,
the record and the report are written, and the run exits 3. Further signals are only counted
and shown ("reverting — press Ctrl-C 2 more times to abandon reverts"); the last of those, while
faults are still being reverted, abandons the reverts: the process exits 4 at once, and what was
not reverted stays in the ledger for ``chaosrunner recover``. Once every fault is reverted
(``settled``) nothing is left to abandon, and signals only count until the report is written.
Signals that arrive within a few milliseconds of each other may reach Python as one. A person
who presses Ctrl-C three times in a row must never lose the report, and a person who insists
must always get their terminal back.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ABANDON_AFTER = 3
"""Signals after the first that it takes to abandon the reverts (the last one exits 4)."""
ABANDONED_EXIT = 4

Callback = Callable[[str, int], None]


class SignalGuard:
    """Counts the run's signals; hands them to the fault session while its event loop runs."""

    def __init__(self, say: Callable[[str], None] | None = None, *, restore: bool = True):
        """``restore=False``: when the guard is left, ignore these signals instead of restoring the old
        handlers — for a command line whose process ends right after, its work done: a late Ctrl-C
        during the interpreter's shutdown (which resets Python's own handlers) must not turn exit 3
        into death by SIGINT."""
        self.restore = restore
        self.count = 0
        self.first: str | None = None
        self.settled = False            # every fault reverted: nothing left to abandon
        self._say = say or _stderr
        self._saved: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._callback: Callback | None = None

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()
        for sig, old in self._saved.items():
            signal.signal(sig, old if self.restore else signal.SIG_IGN)
        self._saved.clear()

    @property
    def installed(self) -> bool:
        return bool(self._saved)

    def attach(self, loop: asyncio.AbstractEventLoop, callback: Callback) -> None:
        """Deliver signals to ``callback(name, count)`` on ``loop`` (those already received too)."""
        self._loop, self._callback = loop, callback
        if self.count:
            loop.call_soon(callback, self.first or "SIGINT", self.count)

    def detach(self) -> None:
        self._loop = self._callback = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        left = ABANDON_AFTER + 1 - self.count
        if self.count == 1:
            self.first = name
            self._say(f"received {name}: reverting every fault, then writing the report "
                      f"(press Ctrl-C {left} more times to abandon reverts)")
        elif self.settled:
            self._say("every fault is reverted: finishing the record and the report")
        elif left > 0:
            self._say(f"reverting — press Ctrl-C {left} more time{'s' if left > 1 else ''} to abandon reverts")
        else:
            self._say("reverts abandoned: faults not yet reverted stay in the ledger; "
                      "run `chaosrunner recover` (exit 4)")
            os._exit(ABANDONED_EXIT)
        loop, callback = self._loop, self._callback
        if loop is not None and callback is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, name, self.count)


def _stderr(text: str) -> None:
    try:
        os.write(2, f"chaosrunner: {text}\n".encode())
    except OSError:
        pass
