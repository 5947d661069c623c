"""Run records for report tests, built from real Timeline and Verdict objects (synthetic, structurally real).

``build_run`` returns a ``RunRecord`` (schema chaosrunner/run/v2) exactly as it reads back from the
run.json ``write_run`` writes with the real writer. v1 documents live in ``tests/report/v1/``.
A plain module, not a conftest: ``tests/conftest.py`` is imported by name as ``conftest``.
"""
from __future__ import annotations

from datetime import datetime, UTC
from pathlib import Path

from chaosrunner.analyse.integrity import integrity
from chaosrunner.analyse.status import RunStatus
from chaosrunner.analyse.verdict import Status, Verdict
from chaosrunner.results import RunRecord, run_record, write_run_json
from chaosrunner.results.record import (
    ExperimentInfo,
    FailoverMeasurement,
    GameDayRecord,
    IntegrityMeasurement,
    LoadFiles,
    Measurements,
    Note,
    SamplingInfo,
    SloWindow,
    TimelineRecord,
    WindowMeasurement,
)
from chaosrunner.timeline import EventKind, LoadStat, Sample, Timeline, WriteRecord

PAYLOAD = "<script>window.__pwned = 1</script>"
STARTED = 1_795_000_000.0


def build_run(*, duration: float = 60.0, interval: float = 0.25, probes: tuple[str, ...] = ("api-health", "db-role"),
              fault: tuple[float, float] | None = (20.0, 40.0), outage: tuple[float, float] = (21.0, 28.5),
              load: bool = True, writes: bool = True, xss: bool = False, gameday: bool = False,
              status: str = "failed", name: str = "database-failure", started: float = STARTED,
              rto: float = 8.5, rpo: float | None = 0.15, p99_fault: float = 900.0) -> RunRecord:
    clock = [0.0]
    tl = Timeline(clock=lambda: clock[0], wall_clock=lambda: started)
    err = ("connection refused " + PAYLOAD) if xss else "connection refused"
    tl.event(EventKind.RUN_STARTED, t=0.0, run_id="r", experiment=name)
    tl.event(EventKind.STEADY_STATE, t=0.5, phase="before", ok=True, probes={p: True for p in probes})
    tl.event(EventKind.LOAD_STARTED, t=0.6)
    if fault:
        tl.event(EventKind.FAULT_INJECTED, t=fault[0], fault_id="f1", target="postgres-primary", type="network",
                 driver="toxiproxy", detail="partition")
        tl.event(EventKind.FAULT_REVERTED, t=fault[1], fault_id="f1", target="postgres-primary", type="network",
                 by="revert")
        tl.event(EventKind.ROLLBACK, t=fault[1] + 0.2, name="restore network", ok=True)
    if xss:
        tl.event(EventKind.PROBE_ERROR, t=25.0, probe="api-health", error=PAYLOAD)
    tl.event(EventKind.STEADY_STATE, t=duration - 1, phase="after", ok=True, probes={p: True for p in probes})
    tl.event(EventKind.RUN_ENDED, t=duration)
    n = int(duration / interval)
    for p in probes:
        for i in range(n):
            t = i * interval
            down = outage[0] <= t < outage[1] and p == probes[0]
            role = ("db-standby" if fault and t >= 26.0 else "db-primary") if p == "db-role" else None
            tl.add_sample(Sample(p, t, t + 0.01, not down, value=200 if not down else None,
                                 error=err if down else None, role=role))
    if load:
        for s in range(1, int(duration) + 1):
            bad = outage[0] <= s < outage[1]
            tl.add_load_stat(LoadStat(float(s), "Aggregated", 100, 40 if bad else 0, 100.0,
                                      30.0, 80.0 if not bad else 600.0, 120.0 if not bad else p99_fault))
            tl.add_load_stat(LoadStat(float(s), "GET /configs", 100, 0, 100.0, 30.0, 80.0, 120.0))
    integ = None
    if writes:
        recs = []
        for i in range(int(duration * 20)):
            sent = i / 20
            lost = 19.9 <= sent < 20.05
            unacked = 20.05 <= sent < 26.0
            landed = not lost and (not unacked or sent < 20.15)     # two timed-out writes landed all the same
            recs.append(WriteRecord(i, f"k{i}", sent, None if unacked else sent + 0.01,
                                    error="timeout" if unacked else None, found="present" if landed else "missing"))
        tl.replace_writes(recs)
        integ = {**integrity(recs, 0.05).to_dict(), "rpo": rpo}   # the analysis' own keys and shapes
    verdicts = [
        Verdict("steady state before", Status.PASSED, "every probe ok", "all ok"),
        Verdict("rto", Status.FAILED if rto > 5 else Status.PASSED, "≤ 5s", f"{rto}s ± 0.25s",
                "api-health failed for 7.5s" + (" " + PAYLOAD if xss else ""), rto, 0.25, "objective"),
        Verdict("rpo", Status.FAILED if rpo else Status.PASSED, "≤ 0s", f"{rpo or 0}s", "3 writes lost",
                rpo, None, "objective"),
        Verdict("failover", Status.PASSED, "≤ 30s", "6s ± 0.25s", "", 6.0, 0.25, "objective"),
        Verdict("slo error rate (fault)", Status.UNKNOWN, "≤ 1%", "no threshold", "", None, None, "slo"),
        Verdict("steady state after", Status.SKIPPED, "every probe ok", "not checked", "", kind="hypothesis"),
    ]
    windows = []
    if fault:
        windows.append(WindowMeasurement(
            window=0, t0=fault[0], reverted_at=fault[1], targets=["postgres-primary"], detection_time=1.0,
            detected=True, recovery_time=rto, recovered=True, resolution=interval, out_of_slo=7.5, deviations=1,
            relapses=0, failover=6.0,
            failover_result=FailoverMeasurement(failed_over=True, deviated=True, failover_at=fault[0] + 6.0,
                                                failover_time=6.0, failback_time=None, measured=True)))

    def slo_window(p95: float, p99: float, error_rate: float, span: tuple[float | None, float | None]) -> SloWindow:
        return SloWindow(requests=2000, failures=int(2000 * error_rate), p50=30.0, p95=p95, p99=p99,
                         error_rate=error_rate, rps=100.0, seconds=20, span=span)

    slo = None
    if load:
        slo = {"baseline": slo_window(80.0, 120.0, 0.0, (None, 20.0)),
               "fault": slo_window(600.0, p99_fault, 0.15, (20.0, 40.0)),
               "recovery": slo_window(80.0, 120.0, 0.0, (40.0, None))}
    gd = None
    if gameday:
        gd = GameDayRecord.model_validate({
            "phases": [{"name": "inject", "started": 19.0, "ended": 41.0, "steps": [
                {"kind": "action", "name": "partition primary", "status": "ok", "t": 20.0, "took": 0.1, "detail": ""},
                {"kind": "wait_until", "name": "failover detected", "status": "ok", "t": 20.1, "took": 6.0,
                 "detail": "expected ≤ 60s"},
                {"kind": "manual", "name": "page the on-call", "status": "skipped", "t": 27.0, "took": None,
                 "detail": "non-interactive"}]}],
            "criteria": [{"name": "RPO ≤ 0s", "expected": "0s", "measured": "0.15s", "status": "failed"},
                         {"name": "automatic failback", "status": "passed"}],
            "action_items": ["Use synchronous replication for configs",
                             {"text": "Update runbook", "owner": "sre", "done": False}],
            "roles": {"commander": "alice", "scribe": ["bob", "carol"]}})
    record = RunRecord(
        run_id=f"{datetime.fromtimestamp(started, UTC):%Y%m%dT%H%M%SZ}-{name}-3f2a",
        experiment=ExperimentInfo(name=name, description="Simulate primary database failure",
                                  hypothesis="System should failover to standby within 30 seconds",
                                  file="experiments/db.yaml", kind="GameDay" if gameday else "Experiment",
                                  objectives={"rto": 5.0, "rpo": 0.0,
                                              "failover": {"probe": "db-role", "within": 30.0}}),
        targets={"postgres-primary": {"toxiproxy": {"api": "http://127.0.0.1:8474", "proxy": "pg"}, "password": "***"},
                 "api": {"url": "http://127.0.0.1:8080" + (PAYLOAD if xss else "")}},
        environment="local",
        status=RunStatus(status), exit_code=RunStatus(status).exit_code,
        started=datetime.fromtimestamp(started, UTC), ended=datetime.fromtimestamp(started + duration, UTC),
        duration_s=duration,
        sampling=SamplingInfo(interval=interval, stable_for=3.0),
        probes=list(probes),
        abort_reason=("error rate above 50% " + (PAYLOAD if xss else "")) if status == "aborted" else None,
        revert_failures=["network on postgres-primary: the proxy is gone"] if status == "revert_failed" else [],
        timeline=TimelineRecord.of(tl),
        verdicts=verdicts,
        measurements=Measurements(windows=windows, slo=slo,
                                  integrity=IntegrityMeasurement.model_validate(integ) if integ else None),
        notes=[Note(t=22.0, author="alice", text="alerts fired" + (PAYLOAD if xss else ""))],
        gameday=gd,
        load=LoadFiles(csv=["load_stats.csv"]) if load else None,
        versions={"chaosrunner": "0.1.0", "python": "3.11.7"},
    )
    return run_record(record.document())  # exactly what run.json holds


def write_run(folder: Path, record: RunRecord, name: str | None = None) -> Path:
    """Write ``record`` as ``folder/<name or run_id>/run.json`` with the real writer; returns the run folder."""
    d = folder / (name or record.run_id)
    write_run_json(d, record)
    return d
