"""The data-integrity writer: sequenced writes at a fixed rate, in a thread of its own.

``start(timeline, run_id)`` issues write ``seq = 0, 1, 2, …`` on fixed deadlines
(``origin + k / rate``, never "sleep after the write", so a slow store does not slow the
writer down) and appends one ``WriteRecord`` per write once it is acknowledged or has failed.
Writes continue while the store is down: they fail, are recorded unacknowledged, and are
counted. ``stop()`` waits for the writes in flight; ``readback()`` asks the store what became
of every write and stores the answers in the timeline; ``cleanup()`` removes this run's data.

The writer runs its own asyncio loop in a daemon thread, so the engine's loop (samplers,
drivers) and the writer never delay each other.

Read-back and clean-up go in bulk (see ``sinks``), and the time they may take grows with the
number of writes: ``readback_timeout`` (the window for retrying a store still unreachable) plus one
second per ``READBACK_FLOOR`` writes — a floor 10-100 times below the measured rates
(``benchmarks/readback_bench.py``), so an hour-long run is never cut short for being long.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
from array import array
import re
import threading
from concurrent.futures import Future
from typing import Any
from collections.abc import Coroutine

from chaosrunner.errors import ChaosRunnerError
from chaosrunner.timeline import EventKind, Timeline, WriteRecord
from chaosrunner.model.writer import WriterSpec
from chaosrunner.writer.sinks import HttpSink, PostgresSink, RedisSink, Sink


class WriterError(ChaosRunnerError):
    """The writer could not start (its store was unreachable) or was misused."""

    exit_code = 2      # found before any fault is injected: a configuration problem


READBACK_FLOOR = 2000.0
"""Writes per second the read-back and the clean-up are granted at least."""


def make_sink(spec: WriterSpec, run_id: str) -> Sink:
    if spec.type == "http":
        return HttpSink(spec.url or "", run_id)
    if spec.type == "redis":
        return RedisSink(spec.url or "", run_id, spec.prefix, spec.timeout)
    return PostgresSink(spec.target, run_id, spec.table)


def write_key(prefix: str, run_id: str, seq: int) -> str:
    return f"{prefix}-{run_id}-{seq:08d}"


def write_value(run_id: str, seq: int) -> str:
    """A value the read-back can check: it names the run and the write, plus a digest of both."""
    digest = hashlib.sha256(f"{run_id}:{seq}".encode()).hexdigest()[:16]
    return f"{run_id}:{seq}:{digest}"


class Writer:
    def __init__(self, spec: WriterSpec, sink: Sink | None = None):
        self.spec = spec
        self.period = 1.0 / spec.rate
        self.max_inflight = math.ceil(spec.timeout * spec.rate) + 2
        self._sink = sink
        self.timeline: Timeline | None = None
        self.run_id = ""
        # what became of each write, compactly (16 bytes a write, not a record object: an hour at
        # 50/s is 180,000 writes); ``records`` builds the records from them
        self._sent, self._ack = array("d"), array("d")          # nan: not completed / not acknowledged
        self._errors: dict[int, str] = {}
        self._given: list[WriteRecord] | None = None            # set explicitly, or the read-back's answer
        self.readback_error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._main: Future[None] | None = None
        self._stopping = False
        self._seq = 0

    # -- thread and loop ---------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="chaosrunner-writer", daemon=True)
            self._thread.start()
        return self._loop

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop()).result(timeout)

    @property
    def records(self) -> list[WriteRecord]:
        """Every completed write, by sequence number (with ``found`` once read back)."""
        if self._given is not None:
            return self._given
        sent, ack, errors = self._sent, self._ack, self._errors
        return [WriteRecord(seq, write_key(self.spec.prefix, self.run_id, seq), sent[seq],
                            None if math.isnan(ack[seq]) else ack[seq], errors.get(seq))
                for seq in range(len(sent)) if not math.isnan(sent[seq])]

    @records.setter
    def records(self, records: list[WriteRecord]) -> None:
        self._given = list(records)

    def _completed(self, seq: int, sent: float, ack: float | None, error: str | None) -> None:
        missing = seq + 1 - len(self._sent)
        if missing > 0:
            self._sent.extend([math.nan] * missing)
            self._ack.extend([math.nan] * missing)
        self._sent[seq], self._ack[seq] = sent, math.nan if ack is None else ack
        if error is not None:
            self._errors[seq] = error

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise WriterError("the writer has not been started")
        return self._sink

    # -- public API --------------------------------------------------------------------------
    def start(self, timeline: Timeline, run_id: str) -> None:
        """Prepare the store and begin writing; raises ``WriterError`` when the store is unreachable."""
        if self._main is not None:
            raise WriterError("the writer is already running")
        self.timeline, self.run_id = timeline, re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
        if self._sink is None:
            self._sink = make_sink(self.spec, self.run_id)
        try:
            self._call(asyncio.wait_for(self.sink.open(), self.spec.timeout * 5), self.spec.timeout * 5 + 5)
        except Exception as exc:
            raise WriterError(f"the {self.spec.type} writer could not prepare its store: "
                              f"{type(exc).__name__}: {exc}") from exc
        timeline.event(EventKind.WRITER_STARTED, type=self.spec.type, rate=self.spec.rate, run_id=self.run_id)
        self._main = asyncio.run_coroutine_threadsafe(self._run(), self._ensure_loop())

    def stop(self) -> list[WriteRecord]:
        """Stop issuing writes and wait for those in flight (each is bounded by the timeout)."""
        if self._main is None:
            return list(self.records)
        self._stopping = True
        self._main.result(self.spec.timeout + self.period + 10)
        self._main = None
        records = self.records
        if self.timeline is not None:
            acked = sum(r.ack is not None for r in records)
            self.timeline.event(EventKind.WRITER_STOPPED, writes=len(records), acknowledged=acked)
        return list(records)

    def readback(self) -> list[WriteRecord]:
        """Fill ``found`` of every write from the store (retrying while it is unreachable) into the timeline."""
        if self._main is not None:
            self.stop()
        limit = self.spec.readback_timeout + 2 * self.work_limit(len(self.records)) + 30
        result: list[WriteRecord] = self._call(self._readback(), limit)
        self.records = result
        if self.timeline is not None:
            self.timeline.replace_writes(result)
        return result

    def work_limit(self, writes: int) -> float:
        """Seconds one read-back (or clean-up) of ``writes`` writes may take: grows with their number."""
        return max(5.0, self.spec.readback_timeout) + writes / READBACK_FLOOR

    def cleanup(self) -> None:
        """Delete this run's keys or rows (``writer.cleanup: true``)."""
        keys = [r.key for r in self.records]
        limit = self.work_limit(len(keys))
        self._call(asyncio.wait_for(self.sink.cleanup_keys(keys), limit), limit + 5)

    def close(self) -> None:
        if self._main is not None:
            self.stop()
        if self._loop is not None:
            if self._sink is not None:
                try:
                    self._call(self._sink.close(), 10)
                except Exception:  # noqa: BLE001 - closing a dead store must not fail a run
                    pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
            self._loop = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        inflight: set[asyncio.Task[None]] = set()
        origin, k = loop.time(), 0
        while not self._stopping:
            deadline = origin + k * self.period
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if self._stopping:
                    break
            elif delay < -self.period:            # the thread was starved: skip missed deadlines, never burst
                k = math.ceil((loop.time() - origin) / self.period)
                continue
            k += 1
            seq, self._seq = self._seq, self._seq + 1
            task = loop.create_task(self._write(seq, saturated=len(inflight) >= self.max_inflight))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.wait(set(inflight))

    async def _write(self, seq: int, saturated: bool) -> None:
        assert self.timeline is not None
        key, value = write_key(self.spec.prefix, self.run_id, seq), write_value(self.run_id, seq)
        sent = self.timeline.now()
        ack, error = None, None
        if saturated:
            error = f"{self.max_inflight} writes already in flight"
        else:
            try:
                await asyncio.wait_for(self.sink.write(key, seq, value), self.spec.timeout)
                ack = self.timeline.now()
            except TimeoutError:
                error = f"not acknowledged within {self.spec.timeout:g}s"
            except Exception as exc:  # noqa: BLE001 - every failure is an unacknowledged write
                text = str(exc).strip().splitlines()
                error = f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
        self._completed(seq, sent, ack, error)
        self.timeline.add_write(WriteRecord(seq, key, sent, ack, error))

    async def _readback(self) -> list[WriteRecord]:
        records = sorted(self.records, key=lambda r: r.seq)
        wanted = [(r.seq, r.key, write_value(self.run_id, r.seq)) for r in records]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.spec.readback_timeout
        found: dict[int, str] = {}
        while wanted:
            try:
                found = await asyncio.wait_for(self.sink.read(wanted), self.work_limit(len(wanted)))
                self.readback_error = None
                break
            except Exception as exc:  # noqa: BLE001 - the store may still be recovering: retry until give_up
                self.readback_error = f"{type(exc).__name__}: {exc}"
                if loop.time() >= give_up:
                    break
                await asyncio.sleep(0.5)
        # a new record each (dataclasses.replace is three times slower: 1.7 s for 200,000)
        return [WriteRecord(r.seq, r.key, r.sent, r.ack, r.error, found.get(r.seq)) for r in records]
