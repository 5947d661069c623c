"""The fault session and the experiment script, on the in-memory system (milliseconds per test).

The experiments are real files, read and planned as usual (their targets carry a toxiproxy handle
that is never contacted); the session gets the in-memory driver and static probes instead of the
real ones, so these tests check the engine's own logic: ledger, inject, revert once, rollbacks,
stop conditions, aborts, companions, signals. The real drivers and probes have their own tests
against the real thing (tests/test_engine.py and the driver tests).
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import write

from chaosrunner import api
from chaosrunner.execute.ledger import Ledger, read_entries
from chaosrunner.execute.script import ExperimentOutcome, ExperimentScript
from chaosrunner.execute.session import FaultSession
from chaosrunner.execute.signals import SignalGuard
from chaosrunner.execute.stops import stop_conditions
from chaosrunner.planning import Plan
from chaosrunner.probes import ProbeContext
from chaosrunner.testing import MemorySystem, StaticProbe, memory_drivers
from chaosrunner.timeline import EventKind as K
from chaosrunner.timeline import Timeline

INVENTORY = """\
targets:
  db: {toxiproxy: {api: "http://127.0.0.1:9", proxy: db}}
  api: {toxiproxy: {api: "http://127.0.0.1:9", proxy: api}}
"""


def plan_of(tmp_path: Path, body: str) -> Plan:
    write(tmp_path / "inv.yaml", INVENTORY)
    exp = write(tmp_path / "exp.yaml", "name: mem\ntargets: inv.yaml\n"
                "steady_state:\n  - probe: {type: tcp, name: db ok, host: 127.0.0.1, port: 9}\n" + body)
    [p] = api.plan(exp)
    return p


def run(p: Plan, system: MemorySystem, *, probes: list[Any] | None = None, companions: list[Any] = (),
        signals: SignalGuard | None = None, recovery_timeout: float = 2.0,
        during: Any = None) -> tuple[ExperimentOutcome, Timeline, Ledger]:
    tl = Timeline()
    ledger = Ledger(run_id="mem")
    probes = probes if probes is not None else [StaticProbe("db ok", system, "db", "api")]
    model = p.experiment.model

    async def go() -> ExperimentOutcome:
        session = FaultSession(tl, ledger, probes, interval=model.sampling.interval,
                               stop_conditions=stop_conditions(model.abort_when, p.probe_names),
                               companions=companions, signals=signals, drivers=memory_drivers(system))
        async with session:
            task = asyncio.ensure_future(ExperimentScript(p, ProbeContext(timeline=tl), recovery_timeout).run(session))
            if during is not None:
                await during(session)
            return await task

    return asyncio.run(go()), tl, ledger


SAMPLING = "sampling: {interval: 10ms, stable_for: 50ms}\n"


def test_a_fault_is_injected_held_reverted_and_struck_off(tmp_path):
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 150ms}\n" + SAMPLING)
    out, tl, ledger = run(p, system)
    assert out.steady_before and out.steady_after and not out.aborted and not out.revert_failures
    assert system.calls == [("inject", "f1"), ("revert", "f1")] and not system.faults
    [inj] = tl.events_of(K.FAULT_INJECTED)
    [rev] = tl.events_of(K.FAULT_REVERTED)
    assert 0.14 <= rev.t - inj.t < 0.5 and rev.data["by"] == "duration"
    during = [s for s in tl.samples if inj.t < s.start < rev.t - 0.02]
    after = [s for s in tl.samples if s.start > rev.t + 0.01]
    assert during and not any(s.ok for s in during) and after and all(s.ok for s in after)
    assert not ledger.entries()


def test_steady_state_failing_before_injects_nothing(tmp_path):
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 1s}\n" + SAMPLING)
    out, tl, _ = run(p, system, probes=[StaticProbe("db ok", answers=[False])])
    assert out.steady_before is False and out.steady_after is None and system.calls == []
    assert not tl.events_of(K.FAULT_INJECTED)


def test_an_inject_that_fails_aborts_and_leaves_nothing(tmp_path):
    system = MemorySystem(fail_inject={"api"})
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s}\n"
                "  - action: {type: latency, target: api, delay: 1s, duration: 1s}\n" + SAMPLING)
    out, tl, ledger = run(p, system)
    assert out.aborted and "could not be injected" in out.aborted and "refused" in out.aborted
    assert ("revert", "f1") in system.calls and not system.faults      # the first fault is reverted
    assert not ledger.entries() and not out.revert_failures


def test_a_revert_that_fails_stays_in_the_ledger(tmp_path):
    system = MemorySystem(fail_revert={"db"})
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30ms}\n" + SAMPLING)
    out, tl, ledger = run(p, system, recovery_timeout=0.2)
    assert out.revert_failures and "will not heal" in out.revert_failures[0]
    [entry] = ledger.entries()
    assert entry.fault_id == "f1" and entry.handle is not None
    assert system.calls.count(("revert", "f1")) == 1                   # reverted once, not again on leaving
    assert tl.events_of(K.FAULT_REVERT_FAILED)


def test_a_stop_condition_reverts_every_fault_within_a_second(tmp_path):
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30s}\n"
                "abort_when: [{probe_failing_for: 100ms}]\n" + SAMPLING)
    started = time.monotonic()
    out, tl, ledger = run(p, system)
    assert out.aborted and "failing for" in out.aborted
    [abort] = tl.events_of(K.ABORT)
    [rev] = tl.events_of(K.FAULT_REVERTED)
    assert rev.t - abort.t < 1.0 and rev.data["by"] == "rollback"
    assert time.monotonic() - started < 5 and not system.faults and not ledger.entries()


def test_a_hung_probe_is_failing_from_its_deadline_not_its_timeout(tmp_path):
    """probe_failing_for 300ms, a probe whose every sample hangs (timeout 5s): abort at ~0.35s, not 5s."""
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30s}\n"
                "abort_when: [{probe_failing_for: 300ms}]\nsampling: {interval: 50ms, stable_for: 50ms}\n")
    out, tl, _ = run(p, system, probes=[StaticProbe("db ok", system, "db", timeout=5.0, hang=True)])
    [inj] = tl.events_of(K.FAULT_INJECTED)
    [abort] = tl.events_of(K.ABORT)
    assert "failing for" in str(abort.data["reason"]) and 0.3 <= abort.t - inj.t < 1.5
    assert not system.faults


def test_background_faults_end_with_the_method_and_rollbacks_come_after_reverts(tmp_path):
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n"
                "  - action: {type: latency, target: db, delay: 1s, duration: 100ms, background: true}\n"
                "  - action: {type: latency, target: api, delay: 1s}\n"
                "rollback:\n  - probe: {type: tcp, name: check, host: 127.0.0.1, port: 9, timeout: 100ms}\n" + SAMPLING)
    out, tl, _ = run(p, system)
    reverted = {e.data["fault_id"]: e for e in tl.events_of(K.FAULT_REVERTED)}
    assert reverted["f1"].data["by"] == "duration" and reverted["f2"].data["by"] == "rollback"
    [rollback] = tl.events_of(K.ROLLBACK)
    assert rollback.t > reverted["f2"].t and not system.faults


def test_an_abort_mid_inject_waits_for_the_inject_and_reverts_it(tmp_path):
    system = MemorySystem(inject_delay=0.3)
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 10s}\n" + SAMPLING)

    async def abort_mid_inject(session: FaultSession) -> None:
        while not system.calls and not read_entries(session.ledger.dir):
            await asyncio.sleep(0.005)
        session.abort("test: abort while the driver injects")

    out, tl, ledger = run(p, system, during=abort_mid_inject)
    assert out.aborted == "test: abort while the driver injects"
    assert system.calls == [("inject", "f1"), ("revert", "f1")] and not system.faults
    assert tl.events_of(K.FAULT_INJECTED) and tl.events_of(K.FAULT_REVERTED) and not ledger.entries()


class Recorder:
    """A companion that records its calls; it can fail to start or ask for an abort from a thread."""

    def __init__(self, name: str, log: list[str], fail: bool = False, abort_after: float | None = None):
        self.name, self.log, self.fail, self.abort_after = name, log, fail, abort_after

    async def start(self, session: FaultSession) -> None:
        self.log.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} cannot start")
        if self.abort_after is not None:
            threading.Timer(self.abort_after, session.abort_soon, [f"{self.name} died"]).start()

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def abort_reason(self) -> str | None:
        return None

    def figures(self) -> dict[str, Any]:
        return {"calls": len(self.log)}


def test_companions_start_in_order_stop_in_reverse_and_a_failed_start_injects_nothing(tmp_path):
    system, log = MemorySystem(), []
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 20ms}\n" + SAMPLING)
    run(p, system, companions=[Recorder("load", log), Recorder("writer", log)])
    assert log == ["start load", "start writer", "stop writer", "stop load"]
    log.clear()
    with pytest.raises(RuntimeError, match="writer cannot start"):
        run(p, system, companions=[Recorder("load", log), Recorder("writer", log, fail=True)])
    assert log == ["start load", "start writer", "stop load"] and system.calls[2:] == []


def test_a_companion_dying_in_its_thread_aborts_at_once(tmp_path):
    system = MemorySystem()
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30s}\n" + SAMPLING)
    out, tl, _ = run(p, system, companions=[Recorder("load", [], abort_after=0.2)])
    assert out.aborted == "load died" and not system.faults
    [inj] = tl.events_of(K.FAULT_INJECTED)
    [abort] = tl.events_of(K.ABORT)
    assert abort.t - inj.t < 1.0


def test_signals_abort_once_then_only_count_until_the_guard_is_left(tmp_path):
    system = MemorySystem(revert_delay=0.2)          # the second signal comes while the fault is reverted
    said: list[str] = []
    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30s}\n" + SAMPLING)

    async def two_signals(session: FaultSession) -> None:
        while not system.faults:
            await asyncio.sleep(0.005)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with SignalGuard(say=said.append) as guard:
        out, tl, _ = run(p, system, signals=guard, during=two_signals)
        assert guard.count == 2
    assert signal.getsignal(signal.SIGINT) is before
    assert out.aborted == "received SIGTERM" and not system.faults
    assert [e.data.get("repeated") for e in tl.events_of(K.SIGNAL)] == [None, 2]
    assert "press Ctrl-C 3 more times" in said[0] and "2 more times" in said[1]


def test_four_signals_during_a_slow_revert_abandon_it_with_exit_4_and_the_ledger_kept(tmp_path):
    import subprocess
    import sys

    from support import ROOT

    p = plan_of(tmp_path, "method:\n  - action: {type: latency, target: db, delay: 1s, duration: 30s}\n" + SAMPLING)
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("abandon_run.py")), str(p.experiment.file),
                        "0.03"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    ended = time.monotonic()
    assert r.returncode == 4 and "reverts abandoned" in r.stderr, (r.stdout, r.stderr)
    signalling = float(r.stdout.split("signalling at ")[1].split()[0])
    # from the first signal to the exit (the interpreter's start, slow on a loaded machine, not counted):
    # before the 3 s revert could have ended
    assert "ended normally" not in r.stdout and ended - signalling < 2.9, (ended - signalling, r.stdout)
    [entry] = read_entries(Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger")
    assert entry.fault_id == "f1" and entry.handle is not None and entry.handle.driver == "memory"


@pytest.mark.parametrize("timeout, reverted", [("2s", True), ("300ms", False)])
def test_a_revert_may_take_the_fault_s_own_timeout_when_it_is_longer_than_the_session_s(tmp_path, timeout, reverted):
    """A fault's ``timeout`` bounds its revert too (a cloud instance may take minutes to start again):
    a revert of 0.6 s under a session limit of 0.2 s succeeds within a 2 s fault timeout, and fails (left in
    the ledger) within a 300 ms one."""
    p = plan_of(tmp_path, f"method:\n  - action: {{type: latency, target: db, delay: 1s, duration: 50ms, "
                          f"timeout: {timeout}}}\n" + SAMPLING)
    system = MemorySystem(revert_delay=0.6)
    tl, ledger = Timeline(), Ledger(run_id="mem")

    async def go() -> ExperimentOutcome:
        session = FaultSession(tl, ledger, [StaticProbe("db ok", system, "db")], interval=0.01,
                               revert_timeout=0.2, drivers=memory_drivers(system))
        async with session:
            return await ExperimentScript(p, ProbeContext(timeline=tl), 1.0).run(session)

    asyncio.run(go())
    kinds = [e.kind for e in tl.events]
    assert (K.FAULT_REVERTED in kinds) is reverted and (K.FAULT_REVERT_FAILED in kinds) is not reverted, kinds
    left = read_entries(Path(os.environ["CHAOSRUNNER_STATE_DIR"]) / "ledger")
    assert (not left) is reverted, left      # a timed-out revert stays in the ledger for `recover`
