"""The game day's terminal view and the operator at the keyboard.

``GameDayView`` listens to the timeline: on a terminal, a rich live panel (current phase and
step, T+mm:ss, the phase's deadline, each probe's recent samples as a bar, load rps/p99/errors,
writer acked/lost, the expected timings pending/met/missed, the last notes) above timestamped
event lines; on a dumb terminal (``TERM=dumb``, or not a terminal), the event lines alone.
``KeyOperator`` reads single keys: ``c`` confirm, ``s`` skip, ``f`` fail (asks a reason),
``n`` note, ``a`` abort.
"""
from __future__ import annotations

import asyncio
import os
import select
import sys
import threading
import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaosrunner.analyse.gameday import first_time
from chaosrunner.gameday.read import LoadedGameDay
from chaosrunner.gameday.script import Answer
from chaosrunner.timeline import Event, EventKind, LoadStat, Sample, WriteRecord


def dumb_terminal(console: Console) -> bool:
    return os.environ.get("TERM", "") in ("", "dumb") or not console.is_terminal


KEEP = 600.0          # seconds of samples the live view keeps to show the expected timings


class GameDayView:
    def __init__(self, day: LoadedGameDay, console: Console, time_scale: float = 1.0):
        self.day, self.console, self.scale = day, console, time_scale
        self.plain = dumb_terminal(console)
        self.t0: float | None = None
        self.now = 0.0
        self.phase, self.step = "starting", ""
        self.deadline: float | None = None
        self.samples: dict[str, deque[bool]] = {n: deque(maxlen=40) for n in day.plan.probe_names}
        self.all_samples: list[Sample] = []     # the last KEEP seconds (a day may last hours)
        self.met: dict[str, float] = {}         # timing → when its condition held (kept once seen)
        self.starts: dict[str, float] = {}
        self.notes: deque[str] = deque(maxlen=4)
        self.load: LoadStat | None = None
        self.acked = self.failed_writes = 0
        self._live: Live | None = None

    def __enter__(self) -> GameDayView:
        if not self.plain:
            self._live = Live(self._panel(), console=self.console, refresh_per_second=4, get_renderable=self._panel)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def say(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        offset = f"T{'+' if self.now >= (self.t0 or 0) else '-'}{self._mmss(abs(self.now - (self.t0 or 0)))}" \
            if self.t0 is not None else "T-"
        self.console.print(f"{stamp} {offset} {text}", markup=False, highlight=False, soft_wrap=True)

    @staticmethod
    def _mmss(seconds: float) -> str:
        return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"

    def __call__(self, rec: Any) -> None:
        if isinstance(rec, Sample):
            self.now = max(self.now, rec.end)
            if rec.probe in self.samples:
                self.samples[rec.probe].append(rec.ok)
                self.all_samples.append(rec)
                if len(self.all_samples) % 1024 == 0:
                    self._timings()              # what held is kept in `met` before old samples go
                    self.all_samples = [s for s in self.all_samples if s.start >= self.now - KEEP]
            return
        if isinstance(rec, LoadStat):
            if rec.name == "Aggregated":
                self.load = rec
            return
        if isinstance(rec, WriteRecord):
            return
        if not isinstance(rec, Event):
            return
        self.now = max(self.now, rec.t)
        d, k = rec.data, rec.kind
        if k is EventKind.NOTE and d.get("t0"):
            self.t0 = float(d.get("origin", rec.t))
            self.starts["T+0"] = self.t0
            return
        line = None
        if k is EventKind.PHASE_STARTED:
            self.phase = str(d.get("phase"))
            self.starts[self.phase] = rec.t
            self.deadline = self._next_phase_at(d.get("index"))
            line = f"phase {self.phase} started"
        elif k is EventKind.STEP_STARTED:
            self.step = str(d.get("step"))
            if d.get("id"):
                self.starts[str(d["id"])] = rec.t
            if d.get("kind") != "note":          # a note step shows as the note itself
                line = f"  {d.get('kind')}: {self.step}"
        elif k is EventKind.STEP_ENDED and d.get("gameday") and d.get("kind") != "note":
            line = f"  → {d.get('status')}" + (f": {str(d.get('detail'))[:200]}" if d.get("detail") else "")
        elif k is EventKind.FAULT_INJECTED:
            line = f"  fault injected: {d.get('type')} on {d.get('target')}"
        elif k is EventKind.FAULT_REVERTED:
            line = f"  fault reverted: {d.get('type')} on {d.get('target')} ({d.get('by')})"
        elif k is EventKind.FAULT_REVERT_FAILED:
            line = f"  REVERT FAILED: {d.get('type')} on {d.get('target')}: {d.get('error')}"
        elif k is EventKind.NOTE:
            self.notes.append(f"{d.get('author')}: {d.get('text')}")
            line = f"  note ({d.get('author')}): {d.get('text')}"
        elif k is EventKind.MANUAL:
            line = f"  manual: {d.get('answer')} by {d.get('by')}" + (f": {d.get('note')}" if d.get("note") else "")
        elif k is EventKind.ABORT:
            line = f"ABORT: {d.get('reason')}"
        elif k is EventKind.STEADY_STATE:
            line = f"steady state {d.get('phase')}: {'ok' if d.get('ok') else 'NOT ok'}"
        if line is not None:
            self.say(line)

    def _next_phase_at(self, index: Any) -> float | None:
        """The phase's deadline: when the next phase is due (T+ seconds, scaled), if it says."""
        phases = self.day.model.phases
        if not isinstance(index, int) or index >= len(phases):
            return None
        at = phases[index].at                  # index is 1-based: this is the next phase
        return None if at is None else at * self.scale

    def _timings(self) -> list[tuple[str, str]]:
        out = []
        for name, timing in self.day.model.expected.items():
            start = self.starts.get(timing.from_)
            bound = timing.within * self.scale
            if start is None:
                out.append((name, f"pending (≤ {bound:g}s)"))
                continue
            at = self.met.get(name)
            if at is None:
                at, _ = first_time(self.all_samples, timing.until, start, probes=self.day.plan.probe_names,
                                   stable_for=self.day.model.sampling.stable_for)
                if at is not None:
                    self.met[name] = at
            if at is not None:
                took = at - start
                out.append((name, f"{'met' if took <= bound else 'missed'} ({took:.1f}s, ≤ {bound:g}s)"))
            elif self.now - start > bound:
                out.append((name, f"missed (> {bound:g}s)"))
            else:
                out.append((name, f"pending ({self.now - start:.0f}/{bound:g}s)"))
        return out

    def _panel(self) -> Group:
        t = f"T+{self._mmss(self.now - self.t0)}" if self.t0 is not None else "T-"
        due = f"  next phase at T+{self._mmss(self.deadline)}" if self.deadline is not None else ""
        head = Text(f"{t}  phase {self.phase}{due}  step: {self.step}", style="bold")
        probes = Table(box=None, show_header=False, pad_edge=False)
        for name, bar in self.samples.items():
            probes.add_row(name, Text("".join("█" if ok else "▁" for ok in bar),
                                      style="green" if (bar and bar[-1]) else "red"))
        parts: list[Any] = [head, probes]
        if self.load is not None:
            parts.append(Text(f"load: {self.load.rps:.0f} rps  p99 {self.load.p99 or 0:.0f}ms  "
                              f"errors {self.load.failures}"))
        timings = Table(box=None, show_header=False, pad_edge=False)
        for name, state in self._timings():
            timings.add_row(name, state)
        parts += [timings, Text("notes: " + " | ".join(self.notes) if self.notes else "notes: —"),
                  Text("keys: c confirm · s skip · f fail · n note · a abort", style="dim")]
        return Group(*parts)


class KeyOperator:
    """A person at the terminal: single keys read in a thread (cbreak mode), handed to the loop."""

    def __init__(self, view: GameDayView, author: str | None = None):
        self.view = view
        self.author = author or os.environ.get("USER") or "operator"
        self.session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._answers: asyncio.Queue[Answer] | None = None
        self._waiting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None

    def attach(self, session: Any) -> None:
        self.session = session
        self._loop = asyncio.get_running_loop()
        self._answers = asyncio.Queue()
        fd = sys.stdin.fileno()
        try:
            import termios
            import tty

            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except Exception:  # noqa: BLE001 - not a terminal: keys are read as lines
            self._saved = None
        self._thread = threading.Thread(target=self._read, daemon=True, name="gameday-keys")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def _char(self) -> str | None:
        fd = sys.stdin.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 1)
                if not data:
                    self._stop.set()
                    return None
                return data.decode(errors="replace")
        return None

    def _line(self, prompt: str) -> str:
        self.view.say(prompt)
        buf = ""
        while True:
            ch = self._char()
            if ch is None or ch in "\r\n":
                return buf.strip()
            if ch in ("\x7f", "\b"):
                buf = buf[:-1]
            else:
                buf += ch

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _read(self) -> None:
        while not self._stop.is_set():
            ch = self._char()
            if ch is None:
                return
            key = ch.lower()
            if key == "n":
                text = self._line("note (Enter to add): ")
                if text:
                    self._call(self._note, text)
            elif key == "a":
                self.view.say("abort requested (a): reverting every fault")
                self._call(self.session.abort, "aborted by the operator (key a)")
            elif key in "csf" and self._waiting:
                note = self._line("reason: " if key == "f" else "note (Enter for none): ") if key != "s" else ""
                answer = {"c": "confirm", "s": "skip", "f": "fail"}[key]
                assert self._answers is not None
                self._waiting = False
                self._call(self._answers.put_nowait, Answer(answer, note, by=self.author))

    def _note(self, text: str) -> None:
        self.session.timeline.event(EventKind.NOTE, text=text, author=self.author)

    async def ask(self, label: str, text: str, auto: str) -> Answer:
        assert self._answers is not None
        self.view.say(f"MANUAL: {text} — press c to confirm, s to skip, f to fail")
        self._waiting = True
        try:
            return await self._answers.get()
        finally:
            self._waiting = False
