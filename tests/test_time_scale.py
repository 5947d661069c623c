"""``run``/``plan --time-scale F``: fault durations, pauses and load ×F; what the run is judged
against (objectives, probe timeouts, sampling, stop conditions) as written. The seed's own file
run unchanged at ×0.01 against the Kubernetes example inventory is tests/k8s/test_seed_run.py; here,
the transform, the plan, and the refusals (exit 2, nothing touched)."""
from __future__ import annotations

import json

import pytest
from support import ROOT, run_cli, write

from chaosrunner import api
from chaosrunner.planning.timescale import compress

INV = """\
targets:
  web:
    url: http://127.0.0.1:9
    toxiproxy: {api: "http://127.0.0.1:9", proxy: web}
"""

EXP = """\
name: scaled
targets: inv.yaml
objectives: {rto: 30s}
sampling: {interval: 250ms, stable_for: 2s}
abort_when: [{probe_failing_for: 1m}]
steady_state:
  - probe: {type: http, url: "http://127.0.0.1:9/health", timeout: 1500ms}
load:
  http: {paths: ["/"]}
  host: http://127.0.0.1:9
  shape: [{duration: 10m, users: 5, spawn_rate: 5}, {duration: 5m, users: 10, spawn_rate: 5}]
  run_time: 20m
method:
  - action: {type: latency, target: web, delay: 5s, duration: 2m}
  - pause: 1m
  - action: {type: latency, target: web, delay: 1s, duration: 10m, timeout: 20s}
rollback:
  - pause: 30s
"""


def test_what_is_scaled_and_what_is_not(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    [exp] = api.load_experiment(write(tmp_path / "exp.yaml", EXP))
    fast = compress(exp, 0.01)
    m, f = exp.model, fast.model
    assert fast.time_scale == 0.01 and exp.time_scale == 1.0 and compress(exp, 1.0) is exp
    assert [s.action.duration if s.action else s.pause for s in f.method] == pytest.approx([1.2, 0.6, 6.0])
    assert [s.pause for s in f.rollback] == pytest.approx([0.3])
    assert f.load is not None and m.load is not None
    assert f.load.run_time == pytest.approx(12.0) and [s.duration for s in f.load.shape] == pytest.approx([6.0, 3.0])
    # judged as written: the system does not recover faster because the drill is shorter
    assert f.objectives == m.objectives and f.objectives.rto_within == 30.0
    assert f.sampling == m.sampling and f.abort_when == m.abort_when and f.steady_state == m.steady_state
    assert [s.action.delay for s in f.method if s.action] == [5.0, 1.0]         # a fault's size is not time
    assert [s.action.timeout for s in f.method if s.action] == [10.0, 20.0]     # nor a driver's timeout
    # the file as written is untouched (the record keeps it)
    assert [s.action.duration if s.action else s.pause for s in m.method] == [120.0, 60.0, 600.0]
    assert fast.raw == exp.raw
    with pytest.raises(ValueError, match="between 0.001 and 100"):
        compress(exp, 0.0)


def test_plan_shows_the_scaled_durations(tmp_path):
    write(tmp_path / "inv.yaml", INV)
    exp = write(tmp_path / "exp.yaml", EXP)
    full = run_cli("plan", str(exp), "--json")
    fast = run_cli("plan", str(exp), "--json", "--time-scale", "0.01")
    assert full.returncode == 0 and fast.returncode == 0, full.stderr + fast.stderr
    [a], [b] = json.loads(full.stdout), json.loads(fast.stdout)
    # the method's 2m + 1m + 10m is scaled; what the plan adds for recovery (the system's) is not
    assert a["expected_duration"] - b["expected_duration"] == pytest.approx(780 * 0.99), (a, b)
    assert b["expected_duration"] < 60


@pytest.mark.parametrize("value", ["0", "-1", "1000", "abc"])
def test_a_time_scale_out_of_range_is_refused(tmp_path, value):
    write(tmp_path / "inv.yaml", INV)
    exp = write(tmp_path / "exp.yaml", EXP)
    r = run_cli("run", str(exp), "--time-scale", value, "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 2, r.stderr
    assert "--time-scale" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "reports").exists()


def test_a_chaos_toolkit_file_refuses_a_time_scale(tmp_path):
    """A CTK file runs as ``chaos run`` runs it: no compressed clock, exit 2 before anything runs."""
    ctk = ROOT / "tests" / "fixtures" / "ctk" / "01-json-tabs-http-exact-tolerance.json"
    r = run_cli("run", str(ctk), "--time-scale", "0.1", "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--time-scale does not apply" in r.stderr and "chaosrunner convert" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "reports").exists()
