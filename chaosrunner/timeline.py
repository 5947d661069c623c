"""The append-only record of a run: events, probe samples, load statistics and writes.

The timeline is the single source of truth for analysis and reports. Every time is in seconds
on the run's monotonic clock, measured from the run's start (``t = 0``); ``started_wall`` (Unix
seconds) turns any of them into wall time. Records are frozen once appended; appends are
thread-safe, and listeners (the terminal view, the ledger, a live dashboard) are told of each.

Record kinds
------------
- ``Event``: something that happened (``EventKind``), with a free ``data`` mapping.
  Fault events carry ``data["fault_id"]``, ``data["target"]``, ``data["type"]``; a fault's
  window runs from its ``FAULT_INJECTED`` event (the driver confirmed the fault: this is the
  ``t0`` of the measurement definitions) to its ``FAULT_REVERTED`` event.
- ``Sample``: one probe sample: ``start``/``end`` times, ``ok``, a ``value`` and an ``error``.
- ``LoadStat``: one second of load statistics (all endpoints aggregated under name
  ``"Aggregated"``, and one row per endpoint).
- ``WriteRecord``: one sequenced write of the data-integrity writer, and what became of it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaosrunner.spool import Spool

JSON = Any


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    RUN_ENDED = "run_ended"
    PHASE_STARTED = "phase_started"          # data: phase (steady-state-before, method, rollback, ...)
    PHASE_ENDED = "phase_ended"              # data: phase, ok
    STEADY_STATE = "steady_state"            # data: phase, ok, probes: {name: ok}
    STEP_STARTED = "step_started"            # data: step, index, kind
    STEP_ENDED = "step_ended"                # data: step, index, ok, error?
    FAULT_INJECTED = "fault_injected"        # data: fault_id, target, type, driver, detail, step (the action's name)
    FAULT_REVERTED = "fault_reverted"        # data: fault_id, target, type, by (revert|rollback|signal|recover)
    FAULT_REVERT_FAILED = "fault_revert_failed"  # data: fault_id, target, type, error
    ACTION = "action"                        # a non-fault action ran: data: name, ok, output/error
    ROLLBACK = "rollback"                    # data: name, ok, error?
    PROBE_ERROR = "probe_error"              # a probe could not run at all (not a failed sample)
    ABORT = "abort"                          # data: reason
    SIGNAL = "signal"                        # data: signal
    NOTE = "note"                            # data: text, author?
    MANUAL = "manual"                        # data: step, answer, by
    LOAD_STARTED = "load_started"
    LOAD_STOPPED = "load_stopped"            # data: ok, error?
    WRITER_STARTED = "writer_started"
    WRITER_STOPPED = "writer_stopped"
    ERROR = "error"                          # data: error, where


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    t: float
    wall: float
    kind: EventKind
    data: dict[str, JSON] = field(default_factory=dict)

    def to_dict(self) -> dict[str, JSON]:
        return {"seq": self.seq, "t": self.t, "wall": self.wall, "kind": self.kind.value, "data": self.data}


@dataclass(frozen=True, slots=True)
class Sample:
    probe: str
    start: float
    end: float
    ok: bool
    value: JSON = None
    error: str | None = None
    # role probes set this: the name of the node that answered as primary (or several, joined)
    role: str | None = None

    def to_dict(self) -> dict[str, JSON]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LoadStat:
    t: float                 # end of the one-second interval, run clock
    name: str                # endpoint name, or "Aggregated"
    requests: int            # requests completed in the interval
    failures: int
    rps: float
    p50: float | None        # milliseconds
    p95: float | None
    p99: float | None
    avg: float | None = None
    max: float | None = None
    # run clock, starts of requests that ended in this second: the first and last failed one, the first
    # successful one, and the first successful one that started after the last failed one (None: none)
    first_failure: float | None = None
    last_failure: float | None = None
    first_ok: float | None = None
    first_ok_after_failure: float | None = None

    def to_dict(self) -> dict[str, JSON]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class WriteRecord:
    seq: int
    key: str
    sent: float              # run clock when the write was issued
    ack: float | None        # run clock when it was acknowledged; None = not acknowledged
    error: str | None = None
    # filled in by the read-back: present | missing | corrupted | duplicated
    found: str | None = None

    def to_dict(self) -> dict[str, JSON]:
        return asdict(self)


def _from(cls: type, data: dict[str, JSON]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


Listener = Callable[[Any], None]


class Timeline:
    """Append-only, thread-safe record of one run."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        self._clock = clock
        self._t_start = clock()
        self.started_wall = wall_clock()
        self.events: list[Event] = []
        self.samples: list[Sample] = []
        self.load_stats: list[LoadStat] = []
        self.writes: list[WriteRecord] = []
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._spool: Spool | None = None
        self._writes_replaced = False

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the run started, on the monotonic clock."""
        return self._clock() - self._t_start

    def to_run_clock(self, monotonic_value: float) -> float:
        """Turn a raw ``time.monotonic()`` reading into run-clock seconds."""
        return monotonic_value - self._t_start

    def wall(self, t: float) -> float:
        return self.started_wall + t

    # -- appending ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, record: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:  # a broken view must never break the run
                pass

    def event(self, kind: EventKind, /, t: float | None = None, **data: JSON) -> Event:
        with self._lock:
            at = self.now() if t is None else t
            ev = Event(len(self.events), at, self.wall(at), EventKind(kind), data)
            self.events.append(ev)
        self._notify(ev)
        return ev

    def add_sample(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)
            if self._spool is not None:
                self._spool.append("samples", sample, self.samples, sample.start)
        self._notify(sample)

    def add_load_stat(self, stat: LoadStat) -> None:
        with self._lock:
            self.load_stats.append(stat)
            if self._spool is not None:
                self._spool.append("load_stats", stat, self.load_stats, stat.t)
        self._notify(stat)

    def add_write(self, write: WriteRecord) -> None:
        with self._lock:
            self.writes.append(write)
            if self._spool is not None:
                self._spool.append("writes", write, self.writes, write.sent)
        self._notify(write)

    def replace_writes(self, writes: Iterable[WriteRecord]) -> None:
        """Store the writes once their read-back is known (the only non-append operation)."""
        with self._lock:
            self.writes = list(writes)
            self._writes_replaced = self._spool is not None

    # -- streaming to disk (chaosrunner.spool) ------------------------------------------------
    def spool_to(self, folder: Path, keep: float = 300.0, trim_every: int = 1024) -> None:
        """From now on, stream samples, load statistics and writes to JSON lines in ``folder`` and
        keep only the last ``keep`` seconds of them in memory (trimmed every ``trim_every``
        records of a kind), until ``unspool``."""
        with self._lock:
            if self._spool is None:
                self._spool = Spool(folder, keep, trim_every)

    def unspool(self, remove: bool = True) -> None:
        """Stop streaming and read every record back from the files (all of them, for the analysis)."""
        with self._lock:
            spool, self._spool = self._spool, None
            if spool is None:
                return
            data = spool.close()
            self.samples = [_from(Sample, d) for d in data["samples"]]
            self.load_stats = [_from(LoadStat, d) for d in data["load_stats"]]
            if not self._writes_replaced:          # the read-back's answer, complete, is already in memory
                self.writes = [_from(WriteRecord, d) for d in data["writes"]]
        if remove:
            spool.remove()

    # -- reading -----------------------------------------------------------------------------
    def events_of(self, *kinds: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def samples_of(self, probe: str) -> list[Sample]:
        return [s for s in self.samples if s.probe == probe]

    def probe_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.samples:
            seen.setdefault(s.probe, None)
        return list(seen)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, JSON]:
        with self._lock:
            return {
                "started_wall": self.started_wall,
                "events": [e.to_dict() for e in self.events],
                "samples": [s.to_dict() for s in self.samples],
                "load_stats": [s.to_dict() for s in self.load_stats],
                "writes": [w.to_dict() for w in self.writes],
            }

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Timeline:
        tl = cls()
        tl.started_wall = float(data.get("started_wall", 0.0))
        tl.events = [
            Event(e["seq"], e["t"], e["wall"], EventKind(e["kind"]), e.get("data", {})) for e in data.get("events", [])
        ]
        tl.samples = [_from(Sample, s) for s in data.get("samples", [])]
        tl.load_stats = [_from(LoadStat, s) for s in data.get("load_stats", [])]
        tl.writes = [_from(WriteRecord, w) for w in data.get("writes", [])]
        return tl


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A span in which at least one fault was active; overlapping faults share a window."""

    index: int
    start: float                      # t0: first fault of the window confirmed
    end: float | None                 # last revert of the window; None = never reverted
    fault_ids: tuple[str, ...]
    targets: tuple[str, ...]


def fault_windows(events: Iterable[Event]) -> list[FaultWindow]:
    """Group the fault events of a timeline into windows (pure; used by analysis and reports)."""
    spans: dict[str, list[Any]] = {}
    for ev in events:
        fid = ev.data.get("fault_id")
        if fid is None:
            continue
        if ev.kind is EventKind.FAULT_INJECTED and fid not in spans:
            spans[fid] = [ev.t, None, ev.data.get("target", "")]
        elif ev.kind is EventKind.FAULT_REVERTED and fid in spans and spans[fid][1] is None:
            spans[fid][1] = ev.t
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    windows: list[FaultWindow] = []
    cur: list[Any] | None = None
    for fid, (start, end, target) in ordered:
        if cur is not None and (cur[1] is None or start <= cur[1]):
            cur[1] = None if (cur[1] is None or end is None) else max(cur[1], end)
            cur[2].append(fid)
            cur[3].append(target)
            continue
        if cur is not None:
            windows.append(FaultWindow(len(windows), cur[0], cur[1], tuple(cur[2]), tuple(dict.fromkeys(cur[3]))))
        cur = [start, end, [fid], [target]]
    if cur is not None:
        windows.append(FaultWindow(len(windows), cur[0], cur[1], tuple(cur[2]), tuple(dict.fromkeys(cur[3]))))
    return windows
