"""The game-day script on a fault session over the in-memory system: phases on the compressed
clock, revert by id, faults reverted at the end, --from-phase, a critical wait that times out
aborting the day with every fault reverted, manual steps answered unattended."""
from __future__ import annotations

import asyncio
from pathlib import Path

from chaosrunner.execute.ledger import Ledger
from chaosrunner.execute.session import FaultSession
from chaosrunner.gameday.read import read_gameday
from chaosrunner.gameday.script import GameDayOutcome, GameDayScript
from chaosrunner.probes import ProbeContext
from chaosrunner.testing import MemorySystem, StaticProbe, memory_drivers
from chaosrunner.timeline import EventKind, Timeline

ROOT = Path(__file__).resolve().parents[2]

DAY = f"""\
kind: GameDay
name: memory-day
targets: {ROOT / "targets" / "demo.yaml"}
sampling: {{interval: 20ms, stable_for: 60ms}}
steady_state:
  - probe: {{type: http, name: health, url: /health}}
phases:
  - name: one
    at: T+0
    steps:
      - id: cut
        action: {{type: network, target: api-r1, operation: partition}}
      - id: slow
        action: {{type: latency, target: api-r2, delay: 1s}}
      - wait_until: {{probe: health, state: failing, timeout: 10s}}
      - revert: cut
      - wait_until: {{probe: health, state: ok, timeout: 10s}}
  - name: two
    at: T+10s
    steps:
      - manual: {{text: "confirm me", auto: confirm}}
      - manual: {{text: "skip me", auto: skip}}
      - check: {{probe: health, state: ok}}
  - name: three
    at: T+20s
    steps:
      - note: last phase
      - wait_until: {{probe: health, state: failing, timeout: 30s, critical: {{critical}}}}
"""


def run_day(tmp_path: Path, *, critical: bool = False, scale: float = 0.01, from_phase: int = 1,
            system: MemorySystem | None = None, stops: tuple = (),
            ) -> tuple[GameDayOutcome, Timeline, MemorySystem, FaultSession]:
    path = tmp_path / "day.yaml"
    path.write_text(DAY.replace("{critical}", "true" if critical else "false"))
    day = read_gameday(path)
    system = system or MemorySystem()
    tl = Timeline()
    probes = [StaticProbe("health", system, "api-r1")]

    async def go() -> tuple[GameDayOutcome, FaultSession]:
        session = FaultSession(tl, Ledger(run_id="memory-day"), probes, interval=0.02,  # type: ignore[list-item]
                               drivers=memory_drivers(system), stop_conditions=stops)
        async with session:
            out = await GameDayScript(day, ProbeContext(timeline=tl), time_scale=scale,
                                      from_phase=from_phase, settle_timeout=2).run(session)
        return out, session

    out, session = asyncio.run(go())
    return out, tl, system, session


def test_phases_on_the_compressed_clock(tmp_path, isolated_state):
    out, tl, system, _ = run_day(tmp_path)
    assert [p.name for p in out.phases] == ["one", "two", "three"]
    assert out.t0 is not None
    starts = {p.name: p.started - out.t0 for p in out.phases}      # type: ignore[operator]
    assert 0.1 <= starts["two"] < 0.1 + 0.05 and 0.2 <= starts["three"] < 0.2 + 0.05, starts
    steps = [(s.kind, s.status) for p in out.phases for s in p.steps]
    assert steps == [("action", "done"), ("action", "done"), ("wait_until", "passed"), ("revert", "done"),
                     ("wait_until", "passed"), ("manual", "confirmed"), ("manual", "skipped"), ("check", "passed"),
                     ("note", "done"), ("wait_until", "timeout")]
    # the last wait: 30s × 0.01 = 0.3s, recorded with the scale
    last = out.phases[-1].steps[-1]
    assert 0.3 <= (last.took or 0) < 0.4 and "×0.01" in last.detail
    # `revert: cut` reverted api-r1's fault then; the latency on api-r2 at the end of the day
    by = {e.data["target"]: e.data["by"] for e in tl.events_of(EventKind.FAULT_REVERTED)}
    assert by == {"api-r1": "revert step", "api-r2": "end of game day"}
    assert system.faults == {} and out.aborted is None and out.steady_after
    answers = [(e.data["answer"], e.data["by"]) for e in tl.events_of(EventKind.MANUAL)]
    assert answers == [("confirm", "auto"), ("skip", "auto")]


def test_a_critical_wait_that_times_out_aborts_and_reverts(tmp_path, isolated_state):
    out, tl, system, session = run_day(tmp_path, critical=True, from_phase=3)
    assert [p.name for p in out.phases] == ["three"]          # --from-phase 3
    assert out.aborted is not None and "critical wait_until timed out" in out.aborted
    assert system.faults == {} and not session.active
    assert not list((isolated_state / "ledger").glob("*.json"))


def test_from_phase_moves_t0_back_so_the_phase_starts_at_once(tmp_path, isolated_state):
    out, tl, system, _ = run_day(tmp_path, from_phase=2, scale=0.01)
    assert [p.name for p in out.phases][:1] == ["two"]
    assert out.t0 is not None and out.phases[0].started is not None
    assert abs(out.phases[0].started - out.t0 - 0.1) < 0.01       # "two" is at T+10s ×0.01, reached at once
    assert 0.2 <= (out.phases[1].started or 0) - out.t0 < 0.25      # "three" keeps its place after it
    first = next(e for e in tl.events_of(EventKind.PHASE_STARTED) if e.data.get("phase") == "two")
    before = next(e for e in tl.events_of(EventKind.PHASE_STARTED) if e.data.get("phase") == "steady-state-before")
    assert first.t - before.t < 0.05


def test_a_stop_condition_aborts_the_day_and_reverts_every_fault(tmp_path, isolated_state):
    from chaosrunner.execute.stops import FileExists

    stop = tmp_path / "stop-chaos"
    stop.touch()                 # "the big red button" is pressed: the first check once a fault is in force trips
    out, tl, system, session = run_day(tmp_path, stops=(FileExists(str(stop)),))
    assert out.aborted is not None and "stop file" in out.aborted, out.aborted
    assert [p.name for p in out.phases] == ["one"]                    # the day stopped in phase one
    assert system.faults == {} and not session.active
    injected = {e.data["fault_id"] for e in tl.events_of(EventKind.FAULT_INJECTED)}
    assert injected and injected == {e.data["fault_id"] for e in tl.events_of(EventKind.FAULT_REVERTED)}
    assert not list((isolated_state / "ledger").glob("*.json"))


def test_a_revert_that_fails_makes_the_day_exit_4(tmp_path, isolated_state):
    from chaosrunner.analyse.judge import run_status

    system = MemorySystem(fail_revert={"api-r2"})
    out, tl, system, session = run_day(tmp_path, system=system)
    assert out.revert_failures and "api-r2" in " ".join(out.revert_failures), out.revert_failures
    assert list(system.faults.values()) == ["api-r2"]                  # still in force: a human must look
    assert list((isolated_state / "ledger").glob("*.json"))            # left in the ledger for `recover`
    assert run_status([], out.aborted, out.revert_failures).exit_code == 4


SPOOLED_DAY = f"""\
kind: GameDay
name: spooled-day
targets: {ROOT / "targets" / "demo.yaml"}
sampling: {{interval: 20ms, stable_for: 60ms}}
steady_state:
  - probe: {{type: http, name: health, url: /health}}
  - probe: {{type: http, name: primary, url: /role}}
phases:
  - name: one
    at: T+0
    steps:
      - action: {{type: network, target: api-r1, operation: partition}}
      - wait_until: {{probe: health, state: failing, timeout: 10s}}
      - wait_until: {{probe: health, state: ok, timeout: 100s}}
      - check: {{probe: primary, changed: true}}
"""


class _Primary:
    """The primary a role probe would name: store-a until api-r1 is broken, store-b from then on."""

    name, timeout = "primary", 0.5

    def __init__(self, system: MemorySystem):
        self.system = system

    async def check(self):
        from chaosrunner.probes.base import Outcome

        return Outcome(True, "store-b" if self.system.broken("api-r1") else "store-a", None)

    async def close(self) -> None:
        return None


def test_a_changed_check_compares_with_t0_after_the_spool_dropped_those_samples(tmp_path, isolated_state):
    """A spooled timeline keeps only its last minutes in memory (here 0.3 s, trimmed every 8
    samples). The primary changed right after T+0 and the check comes over a second later: the
    samples of T+0 are gone from memory, but its value was kept when T+0 was set, so the check
    still sees store-a → store-b (it would compare store-b with store-b otherwise, and fail)."""
    path = tmp_path / "day.yaml"
    path.write_text(SPOOLED_DAY)
    day = read_gameday(path)
    system = MemorySystem()
    tl = Timeline()
    tl.spool_to(tmp_path, keep=0.3, trim_every=8)
    probes = [StaticProbe("health", system, "api-r1"), _Primary(system)]

    async def go() -> GameDayOutcome:
        session = FaultSession(tl, Ledger(run_id="spooled-day"), probes, interval=0.02,  # type: ignore[list-item]
                               drivers=memory_drivers(system))
        async with session:
            return await GameDayScript(day, ProbeContext(timeline=tl), time_scale=0.01,
                                       settle_timeout=2).run(session)

    out = asyncio.run(go())
    assert tl.samples[0].start > out.t0                   # memory no longer holds T+0's samples
    [check] = [s for p in out.phases for s in p.steps if s.kind == "check"]
    assert check.status == "passed" and "store-a → store-b" in check.detail, (check.status, check.detail)
    tl.unspool()
    assert tl.samples[0].start <= out.t0 and not list(tmp_path.glob("*.jsonl"))   # all back, files gone
    assert system.faults == {}
