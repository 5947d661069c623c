"""The foreground scheduler (``chaosrunner schedule run``): fires a schedules file's entries, a line per decision.

Each run is a subprocess — ``chaosrunner run FILE --non-interactive --json`` (``gameday run`` for a
game day) in its own session — so a run that crashes takes nothing down, and the run's own
safety (ledger, reverts, signals, report, history row) is the one every run has. The scheduler:

- fires an entry at its cron or ``every`` times when its windows are open; a closed window, a
  still-running previous run (``concurrency: forbid``), a fire later than ``starting_deadline`` and
  fires missed while no scheduler ran (``missed: skip``) are *skipped*: logged and recorded in the
  history (``schedule_events``) with the reason; ``replace`` stops the running one first (its
  faults reverted, its report written), ``allow`` starts another beside it;
- delays each fire by a random ``jitter`` within the entry's bound, and logs by how much;
- holds a lock file in the state dir, so two schedulers on one state dir never both fire;
- on SIGTERM, SIGINT or SIGHUP fires nothing more, passes one SIGTERM to each running run (which
  reverts its faults and writes its report), waits for them, and exits 0;
- after each run: ``notify`` webhooks (from threads: a hanging receiver holds nothing beyond its
  timeout), and ``retention`` (pruning this entry's oldest run folders; the history keeps the rows).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Any

from chaosrunner.execute.ledger import state_dir
from chaosrunner.results.history import SCHEDULE_ENTRY_ENV, History, read_folder_row
from chaosrunner.schedule import notify, state
from chaosrunner.schedule.model import Concurrency, Missed
from chaosrunner.schedule.read import LoadedEntry, LoadedSchedules, RunFile
from chaosrunner.schedule.retention import prune
from chaosrunner.schedule.timing import closed_window, fires, zone

TICK = 0.1
DUE_WITHIN = 45 * 60.0
"""``--due``: how late an engine may start a run and still count as the fire (less than an hour: the
other UTC offset's fire of the same entry is an hour away)."""
STOP_GRACE = 600.0
"""How long a stopping scheduler waits for its runs to revert and write their reports."""


def run_command(run: RunFile, loaded: LoadedEntry, report_dir: Path) -> list[str]:
    """The command a scheduled run is: the same ``chaosrunner run`` (or ``gameday run``) a person would type."""
    sub = ["gameday", "run"] if run.kind == "GameDay" else ["run"]
    cmd = [sys.executable, "-m", "chaosrunner", *sub, str(run.path), "--report-dir", str(report_dir),
           "--non-interactive"]
    if run.kind != "GameDay":
        cmd.append("--json")             # `gameday run` has no --json: its run is found by its new folder
    if loaded.targets is not None:
        cmd += ["--targets", str(loaded.targets)]
    for k, v in loaded.model.vars.items():
        cmd += ["--var", f"{k}={v}"]
    return cmd


@dataclass
class Job:
    """One firing of an entry: its files run in sequence, one subprocess at a time."""

    entry: LoadedEntry
    scheduled: datetime
    start_at: float
    index: int = 0
    proc: subprocess.Popen[bytes] | None = None
    out: IO[bytes] | None = None
    err: IO[bytes] | None = None
    exit_codes: list[int] = field(default_factory=list)
    stopped: bool = False
    folders_before: set[str] = field(default_factory=set)

    @property
    def waiting(self) -> bool:
        return self.proc is None


class Scheduler:
    def __init__(self, schedules: LoadedSchedules, say: Callable[[str], None] | None = None,
                 rng: random.Random | None = None, state: Path | None = None):
        self.schedules = schedules
        self.report_dir = schedules.report_dir
        self.state = state or (state_dir() / "schedules")
        self._say = say or _print
        self.rng = rng or random.Random()
        self.jobs: list[Job] = []
        self.stopping = False
        self.signals = 0
        self.notifications: list[threading.Thread] = []
        self._lock_fh: IO[str] | None = None
        self.signal_name: str | None = None
        self._stop_said = False
        self._say_lock = threading.Lock()

    # -- logging and the record -------------------------------------------------------------------------
    def say(self, entry: str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._say_lock:
            self._say(f"{stamp}  {entry}  {text}")

    def record(self, entry: str, decision: str, reason: str = "", **kw: Any) -> None:
        try:
            with History.open(self.report_dir) as h:
                h.schedule_event(entry, decision, reason, **kw)
        except Exception as exc:  # noqa: BLE001 - the history must never stop the scheduler
            self.say(entry, f"(not recorded in the history: {type(exc).__name__}: {exc})")

    def skip(self, entry: str, reason: str, scheduled: datetime | None = None) -> None:
        self.say(entry, f"skipped: {reason}")
        self.record(entry, "skipped", reason, at=scheduled.timestamp() if scheduled else None)

    # -- the lock and the last fires ---------------------------------------------------------------------
    def acquire(self) -> None:
        self._lock_fh = state.acquire_lock(self.state)

    def release(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def _fires_file(self) -> Path:
        return state.fires_file(self.state, self.schedules.file)

    def _last_fires(self) -> dict[str, str]:
        return state.last_fires(self._fires_file())

    def _remember(self, entry: str, at: datetime) -> None:
        state.remember(self._fires_file(), entry, at)

    # -- decisions ---------------------------------------------------------------------------------------
    def running(self, entry: str) -> list[Job]:
        return [j for j in self.jobs if j.entry.name == entry]

    def fire(self, entry: LoadedEntry, scheduled: datetime, respect_windows: bool = True,
             jitter: bool = True, why: str = "") -> Job | None:
        """Decide on one fire of ``entry``: skip it (logged, recorded) or start a job."""
        name, model = entry.name, entry.model
        self._remember(name, scheduled)
        now = datetime.now(UTC)
        closed = closed_window(model, scheduled) if respect_windows else None
        if closed is not None:
            self.skip(name, f"window closed: {closed}", scheduled)
            return None
        late = (now - scheduled).total_seconds()
        if model.starting_deadline is not None and late > model.starting_deadline:
            self.skip(name, f"past starting_deadline ({late:.0f}s late, deadline {model.starting_deadline:.0f}s)",
                      scheduled)
            return None
        busy = self.running(name)
        if busy and model.concurrency is Concurrency.FORBID:
            self.skip(name, "the previous run is still going (concurrency: forbid)", scheduled)
            return None
        if busy and model.concurrency is Concurrency.REPLACE:
            self.say(name, "replacing the running run (concurrency: replace): stopping it")
            self.record(name, "replaced", "concurrency: replace")
            for job in busy:
                self._stop_job(job)
            self._wait(busy, STOP_GRACE)
        delay = self.rng.uniform(0.0, model.jitter) if jitter and model.jitter > 0 else 0.0
        self.say(name, f"fired{why} (scheduled {scheduled:%Y-%m-%d %H:%M:%S %Z})"
                 + (f", jittered by {delay:.1f}s" if delay else ""))
        self.record(name, "fired", why.strip(" ,()"), jitter_s=round(delay, 3), at=scheduled.timestamp())
        job = Job(entry, scheduled, time.time() + delay)
        self.jobs.append(job)
        return job

    def catch_up(self, now: datetime) -> None:
        """Fires missed while no scheduler ran: skipped, or (``missed: run-once``) the latest run once."""
        last = self._last_fires()
        for name, entry in self.schedules.entries.items():
            if not entry.model.enabled or name not in last:
                continue
            since = datetime.fromisoformat(last[name])
            missed: list[datetime] = []
            for at in fires(entry.model, since, anchor=since):
                if at > now:
                    break
                missed.append(at)
                if len(missed) > 10_000:
                    break
            if not missed:
                continue
            latest = missed[-1]
            deadline = entry.model.starting_deadline
            late = (now - latest).total_seconds()
            if entry.model.missed is Missed.RUN_ONCE and (deadline is None or late <= deadline):
                self.say(name, f"{len(missed)} fire(s) missed while no scheduler ran; running the latest once")
                self.fire(entry, latest, why=" (missed: run-once)")
                continue
            why = ("missed: skip" if entry.model.missed is Missed.SKIP
                   else f"past starting_deadline ({late:.0f}s late)")
            self.skip(name, f"{len(missed)} fire(s) missed while no scheduler ran, latest "
                            f"{latest:%Y-%m-%d %H:%M:%S %Z} ({why})", latest)
            self._remember(name, latest)

    # -- jobs ----------------------------------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        run = job.entry.runs[job.index]
        env = {**os.environ, SCHEDULE_ENTRY_ENV: job.entry.name}
        job.out, job.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        job.folders_before = _run_folders(self.report_dir)
        cmd = run_command(run, job.entry, self.report_dir)
        try:
            job.proc = subprocess.Popen(cmd, stdout=job.out, stderr=job.err, stdin=subprocess.DEVNULL, env=env,
                                        start_new_session=True, cwd=self.schedules.file.parent)
        except OSError as exc:
            self.say(job.entry.name, f"could not start {run.path.name}: {exc}")
            self.record(job.entry.name, "crashed", f"could not start: {exc}")
            job.exit_codes.append(3)
            job.index = len(job.entry.runs)
            return
        self.say(job.entry.name, f"started {run.path.name} ({run.kind.lower()}, pid {job.proc.pid})")

    def _finished(self, job: Job) -> None:
        """The current run of ``job`` ended: read its result, record it, notify; go on with the sequence."""
        assert job.proc is not None and job.out is not None and job.err is not None
        rc = job.proc.returncode
        job.out.seek(0)
        job.err.seek(0)
        stdout, stderr = job.out.read().decode(errors="replace"), job.err.read().decode(errors="replace")
        job.out.close()
        job.err.close()
        job.proc, job.out, job.err = None, None, None
        name = job.entry.name
        try:
            results = json.loads(stdout) if stdout.strip() else []
        except ValueError:
            results = []
        if not results:
            results = self._new_runs(job)
        if not results:
            last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "no output")
            self.say(name, f"finished: crashed (exit {rc}): {last.strip()[:300]}")
            self.record(name, "finished", f"crashed: {last.strip()[:300]}", status="crashed", exit_code=rc)
            results = [{"run_id": None, "experiment": job.entry.runs[job.index].path.name, "status": "crashed",
                        "exit_code": rc, "run_dir": None}]
        for r in results:
            if r.get("run_id"):
                self.say(name, f"finished: {r.get('experiment')} {r.get('status')} (exit {r.get('exit_code')}), "
                               f"run {r.get('run_id')}")
                self.record(name, "finished", "", run_id=r.get("run_id"), status=r.get("status"),
                            exit_code=r.get("exit_code"))
            self._notify(job, r)
        job.exit_codes.append(rc)
        job.index += 1
        if self.stopping or job.stopped or rc in (2, 3, 4) or rc < 0:
            if job.index < len(job.entry.runs):
                self.say(name, f"sequence stopped after {job.index} of {len(job.entry.runs)} files (exit {rc})")
            job.index = len(job.entry.runs)

    def _new_runs(self, job: Job) -> list[dict[str, Any]]:
        """The runs a subprocess without ``--json`` output wrote (``gameday run``): its new run folders, each
        added to the history with this entry (the history holds it once whoever adds it first)."""
        out = []
        for name in sorted(_run_folders(self.report_dir) - job.folders_before):
            row = read_folder_row(self.report_dir / name)
            if row is None:
                continue
            row.schedule_entry = row.schedule_entry or job.entry.name
            try:
                with History.open(self.report_dir) as h:
                    h.add(row)
            except Exception as exc:  # noqa: BLE001 - the history must never stop the scheduler
                self.say(job.entry.name, f"(not recorded in the history: {exc})")
            out.append({"run_id": row.run_id, "experiment": row.experiment, "status": row.status.value,
                        "exit_code": row.exit_code, "run_dir": str(self.report_dir / name)})
        return out

    def _notify(self, job: Job, result: dict[str, Any]) -> None:
        if job.entry.model.notify:
            self.notifications += notify.notify_run(job.entry.model.notify, self.report_dir, str(self.schedules.file),
                                                    job.entry.name, result, lambda s: self._say(_stamp() + s))

    def _retain(self, job: Job) -> None:
        keep = job.entry.model.retention
        if keep is None:
            return
        try:
            pruned = prune(self.report_dir, job.entry.name, keep)
        except Exception as exc:  # noqa: BLE001 - retention must never stop the scheduler
            self.say(job.entry.name, f"retention not applied: {exc}")
            return
        if pruned:
            self.say(job.entry.name, f"retention: pruned {pruned} run folder(s) (keep_last {keep.keep_last}, "
                                     f"keep_failed {keep.keep_failed}); the history keeps their rows")

    def poll(self) -> None:
        """Advance every job: start what is due, collect what ended."""
        self._said_stop()
        now = time.time()
        for job in list(self.jobs):
            if job.proc is None:
                if self.stopping:
                    self.say(job.entry.name, "cancelled before it started (the scheduler is stopping)")
                    self.record(job.entry.name, "cancelled", "the scheduler is stopping")
                    self.jobs.remove(job)
                    continue
                if job.index < len(job.entry.runs) and now >= job.start_at:
                    self._start(job)
            elif job.proc.poll() is not None:
                self._finished(job)
                if job.index < len(job.entry.runs):
                    self._start(job)
            if job.proc is None and job.index >= len(job.entry.runs):
                self.jobs.remove(job)
                self._retain(job)

    def _stop_job(self, job: Job, force: bool = False) -> None:
        if job.stopped and not force:
            return
        job.stopped = True
        if job.proc is not None and job.proc.poll() is None:
            try:
                os.kill(job.proc.pid, signal.SIGTERM)       # one signal: it reverts and writes its report
            except ProcessLookupError:
                pass

    def _wait(self, jobs: list[Job], timeout: float) -> None:
        end = time.time() + timeout
        while any(j in self.jobs for j in jobs) and time.time() < end:
            self.poll()
            time.sleep(TICK)

    # -- the loop ------------------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Only flags and ``os.kill`` here (no printing: a handler may interrupt a print). Every signal is
        passed on to the running runs, so a person who insists abandons their reverts as with ``run``."""
        self.signals += 1
        self.signal_name = signal.Signals(signum).name
        self.stopping = True
        for job in list(self.jobs):
            self._stop_job(job, force=True)

    def _said_stop(self) -> None:
        if self.signal_name and not self._stop_said:
            self._stop_said = True
            self._say(_stamp() + f"-  {self.signal_name}: firing nothing more; the running runs revert their "
                                 f"faults and write their reports")

    def run_forever(self, until: Callable[[], bool] | None = None) -> int:
        """Fire until a signal (or ``until()``); returns 0 once every run it started has ended."""
        self.acquire()
        saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            start = datetime.now(UTC)
            active = {n: e for n, e in self.schedules.entries.items() if e.model.enabled}
            for name in self.schedules.entries:
                if name not in active:
                    self.say(name, "disabled (enabled: false)")
            self.catch_up(start)
            upcoming = {n: fires(e.model, start, anchor=start) for n, e in active.items()}
            due = {n: next(it) for n, it in upcoming.items()}
            for n, at in due.items():
                self.say(n, f"next fire {at:%Y-%m-%d %H:%M:%S %Z}")
            while not self.stopping and not (until is not None and until()):
                now = datetime.now(UTC)
                for n, at in sorted(due.items(), key=lambda kv: kv[1]):
                    if at <= now and not self.stopping:
                        self.fire(active[n], at)
                        nxt = next(upcoming[n])
                        while nxt <= now:             # fires passed while this one was decided: the next one
                            nxt = next(upcoming[n])
                        due[n] = nxt
                self.poll()
                wake = min(due.values(), default=now + timedelta(seconds=1))
                time.sleep(max(0.0, min(TICK, (wake - datetime.now(UTC)).total_seconds())))
            self.stopping = True
            for job in self.jobs:
                self._stop_job(job)
            self._wait(list(self.jobs), STOP_GRACE)
            self._join_notifications()
            self._say(_stamp() + "-  scheduler stopped")
            return 0
        finally:
            for s, old in saved.items():
                signal.signal(s, old)
            self.release()

    def run_once(self, name: str, respect_windows: bool = False, jitter: bool = False,
                 due_cron: str | None = None) -> int:
        """``--once ENTRY``: fire it now as a scheduled run would (notify, retention); the runs' worst exit code.

        ``due_cron``: skip (recorded) unless ``due_cron``, read in the entry's time zone, fired within
        ``DUE_WITHIN`` — for engines whose cron is UTC only, fired at each of the zone's offsets."""
        entry = self.schedules.entry(name)
        if due_cron is not None:
            from croniter import croniter

            now = datetime.now(UTC)
            prev = croniter(due_cron, now.astimezone(zone(entry.model))).get_prev(datetime)
            if (now - prev).total_seconds() > DUE_WITHIN:
                self.skip(name, f"not due: the last fire of {due_cron!r} in {entry.model.timezone} was "
                                f"{prev:%Y-%m-%d %H:%M %Z} (--due)")
                return 0
        saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            job = self.fire(entry, datetime.now(UTC).replace(microsecond=0), respect_windows=respect_windows,
                            jitter=jitter, why=" (--once)")
            if job is None:
                return 0
            while job in self.jobs:
                self.poll()
                time.sleep(TICK)
            self._join_notifications()
            return max(job.exit_codes, default=0) if not self.stopping else 0
        finally:
            for s, old in saved.items():
                signal.signal(s, old)

    def _join_notifications(self) -> None:
        hooks = [h for e in self.schedules.entries.values() for h in e.model.notify]
        end = time.time() + notify.longest(hooks) + 1.0
        for t in self.notifications:
            t.join(max(0.0, end - time.time()))


def _run_folders(report_dir: Path) -> set[str]:
    return {p.parent.name for p in report_dir.glob("*/run.json")} if report_dir.is_dir() else set()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "  "


def _print(line: str) -> None:
    print(line, flush=True)
