"""The game day's expected timings and criteria over hand-made samples (analyse.gameday): each
definition of the module docstring, with its edge cases."""
from __future__ import annotations

from pathlib import Path

import pytest

from chaosrunner.analyse.gameday import failback_verdict, first_time, holds_now, measure_timing
from chaosrunner.analyse.verdict import Status
from chaosrunner.gameday.model import Condition
from chaosrunner.timeline import Sample

PROBES = ["health", "primary"]
ROOT = Path(__file__).resolve().parents[2]


def series(probe: str, states: str, step: float = 0.25, roles: str | None = None) -> list[Sample]:
    """'++--+' → samples every ``step`` s: + ok, - failing; roles: one letter per sample (a/b)."""
    out = []
    for i, ch in enumerate(states):
        role = None if roles is None or ch == "-" else f"store-{roles[i]}"
        out.append(Sample(probe, i * step, i * step + 0.01, ch == "+", value=role, role=role,
                          error=None if ch == "+" else "down"))
    return out


def cond(**kw) -> Condition:
    return Condition(**kw)


def test_state_failing_is_the_first_failed_sample_after_the_start():
    s = series("health", "++++--++")
    assert first_time(s, cond(probe="health", state="failing"), 0.0, probes=PROBES, stable_for=1)[0] == 1.0
    assert first_time(s, cond(probe="health", state="failing"), 1.1, probes=PROBES, stable_for=1)[0] == 1.25
    assert first_time(s, cond(probe="health", state="failing"), 1.3, probes=PROBES, stable_for=1)[0] is None


def test_changed_compares_with_the_value_before_the_start_and_ignores_failed_samples():
    s = series("primary", "++--++", roles="aa--bb")
    at, note = first_time(s, cond(probe="primary", changed=True), 0.3, probes=PROBES, stable_for=1)
    assert at == 1.0 and note == "store-a → store-b"
    # started after the change: the baseline is the new value, nothing changes again
    assert first_time(s, cond(probe="primary", changed=True), 1.1, probes=PROBES, stable_for=1)[0] is None
    # ... unless the baseline is given (a wait_until's: the value at T+0)
    assert first_time(s, cond(probe="primary", changed=True), 1.1, probes=PROBES, stable_for=1,
                      baseline="store-a")[0] == 1.25


def test_equals_and_steady():
    s = series("primary", "+++", roles="bba") + series("health", "+++")
    assert first_time(s, cond(probe="primary", equals="store-a"), 0, probes=PROBES, stable_for=0)[0] == 0.5
    # steady never left: holds at the start, said so
    at, note = first_time(s, cond(steady=True), 0.0, probes=PROBES, stable_for=0.5)
    assert at == 0.0 and "never left" in note


def test_steady_is_the_first_stable_window_after_the_first_failure():
    s = series("health", "++--+++++++") + series("primary", "+++++++++++", roles="a" * 11)
    at, _ = first_time(s, cond(steady=True), 0.0, probes=PROBES, stable_for=1.0)
    assert at == 2.0                    # window from 1.0 (first ok after the failures) for 1.0s


def test_a_timing_is_met_missed_or_not_measured():
    s = series("health", "++++--++")
    c = cond(probe="health", state="failing")
    met = measure_timing("detection", 1.5, "phase-1", c, 0.0, s, probes=PROBES, stable_for=1, end=2)
    assert met.status is Status.PASSED and met.measured == 1.0
    missed = measure_timing("detection", 0.5, "phase-1", c, 0.0, s, probes=PROBES, stable_for=1, end=2)
    assert missed.status is Status.FAILED
    never = measure_timing("detection", 5, "phase-1", c, 1.6, s, probes=PROBES, stable_for=1, end=2)
    assert never.status is Status.FAILED and never.measured is None
    unmeasured = measure_timing("detection", 5, "phase-3", c, None, s, probes=PROBES, stable_for=1, end=2)
    assert unmeasured.status is Status.UNKNOWN and "never started" in unmeasured.note
    v = met.verdict(0.25)
    assert v.name == "expected detection" and v.measured.startswith("1s") and "± 250ms" in v.measured


def test_a_timing_prints_the_resolution_it_achieved_not_the_interval():
    """Adaptive sampling: 250 ms apart in steady state, 25 ms while the probe fails (and after a
    revert). Each timing is known to within the gap between the last sample that did not meet its
    condition and the one that did (never more than the time since its start)."""
    def at(t: float, ok: bool, role: str | None = None, probe: str = "health") -> Sample:
        return Sample(probe, t, t + 0.005, ok, value=role, role=role, error=None if ok else "down")

    health = [at(t, True) for t in (0.0, 0.25, 0.5, 0.75)] + [at(1.0, False)] + \
        [at(1.0 + 0.025 * i, False) for i in range(1, 40)] + [at(2.0 + 0.025 * i, True) for i in range(0, 40)]
    roles = [at(t, True, "store-a", "primary") for t in (0.0, 0.25, 0.5, 0.75, 1.0)] + \
        [at(1.0 + 0.025 * i, False, None, "primary") for i in range(1, 20)] + \
        [at(1.5 + 0.025 * i, True, "store-b", "primary") for i in range(0, 60)]
    s = sorted(health + roles, key=lambda x: x.start)
    detection = measure_timing("detection", 3, "T+0", cond(probe="health", state="failing"), 0.9, s,
                               probes=PROBES, stable_for=0.5, end=3.5)
    assert detection.measured == pytest.approx(0.1) and detection.resolution == pytest.approx(0.1)  # since T+0
    detection = measure_timing("detection", 3, "T+0", cond(probe="health", state="failing"), 0.0, s,
                               probes=PROBES, stable_for=0.5, end=3.5)
    assert detection.measured == pytest.approx(1.0) and detection.resolution == pytest.approx(0.25)  # coarse
    failover = measure_timing("failover", 6, "T+0", cond(probe="primary", changed=True), 0.0, s,
                              probes=PROBES, stable_for=0.5, end=3.5)
    assert failover.measured == pytest.approx(1.5) and failover.resolution == pytest.approx(0.025)   # fine
    restored = measure_timing("restoration", 30, "T+0", cond(steady=True), 0.0, s,
                              probes=PROBES, stable_for=0.5, end=3.5)
    assert restored.measured == pytest.approx(2.5) and restored.resolution == pytest.approx(0.025)
    v = failover.verdict(0.25)
    assert "± 25ms" in v.measured and v.precision == pytest.approx(0.025), v.measured
    # the failback criterion too: store-b back to store-a, sampled every 25 ms then
    back = s + [at(3.0 + 0.025 * i, True, "store-a", "primary") for i in range(0, 10)]
    fb = failback_verdict(back, "primary", "store-a", 30, 2.0, 0.25)
    assert fb.status is Status.PASSED and fb.value == pytest.approx(1.0) and fb.precision == pytest.approx(0.025)
    assert "± 25ms" in fb.measured, fb.measured
    never = measure_timing("failover", 6, "T+0", cond(probe="primary", equals="store-c"), 0.0, s,
                           probes=PROBES, stable_for=0.5, end=3.5)
    assert never.resolution is None and never.verdict(0.25).precision == 0.25


def test_holds_now_reads_the_latest_sample():
    s = series("health", "++--")
    assert holds_now(s, cond(probe="health", state="ok"), probes=PROBES, stable_for=1, now=0.3)[0] is True
    ok, evidence = holds_now(s, cond(probe="health", state="ok"), probes=PROBES, stable_for=1, now=1.0)
    assert ok is False and "failing" in evidence
    assert holds_now([], cond(probe="health", state="ok"), probes=PROBES, stable_for=1, now=1.0)[0] is None


def test_failback_after_the_restore():
    s = series("primary", "++++++++", roles="bbbbbaaa")
    v = failback_verdict(s, "primary", "store-a", 1.0, 0.5, 0.25)
    assert v.status is Status.PASSED and v.value == 0.75
    assert failback_verdict(s, "primary", "store-a", 0.5, 0.5, 0.25).status is Status.FAILED
    assert failback_verdict(s, "primary", "store-a", 1.0, None, 0.25).status is Status.UNKNOWN
    assert failback_verdict(series("primary", "++", roles="bb"), "primary", "store-a", 9, 0.0,
                            0.25).measured == "never"


def test_review_summary_gives_the_impact():
    """review.md's summary (seed §15.1): requests failed, writes lost and time out of SLO."""
    import json

    from chaosrunner.gameday.review import review_markdown
    from chaosrunner.results import run_record

    doc = json.loads((ROOT / "tests" / "report" / "v1" / "synthetic-gameday.run.json").read_text())
    record = run_record(doc)
    impact = next(line for line in review_markdown(record).splitlines() if line.startswith("- **Impact**"))
    assert "3 acknowledged writes lost" in impact, impact
    assert "7.5s out of SLO" in impact, impact
