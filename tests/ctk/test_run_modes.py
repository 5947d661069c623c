"""Compatibility mode's options and findings: chaosrunner's sampling beside the CTK verdict (`--strict`),
`--fail-fast` / `--hypothesis-frequency` as in `chaos run`, and a signal mid-method."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from support import wait_until, write

from chaosrunner.ctk.findings import deviations
from chaosrunner.ctk.run import CtkOptions, run_ctk, verdict_status
from chaosrunner.timeline import Sample

from .conftest import FIXTURES, outcome


@pytest.fixture
def ctk_env(monkeypatch, service):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CTKFIX_URL", service.url)
    return service


def test_verdict_mapping():
    assert verdict_status({"status": "completed", "deviated": False}).exit_code == 0
    assert verdict_status({"status": "completed", "deviated": True}).exit_code == 1
    assert verdict_status({"status": "failed", "deviated": False}).exit_code == 1
    assert verdict_status({"status": "aborted"}).exit_code == 3
    assert verdict_status({"status": "interrupted", "deviated": True}).exit_code == 3


def test_deviations_count_each_fall_from_ok():
    samples = [Sample("a", t, t + 0.01, ok) for t, ok in [(0, True), (1, False), (2, False), (3, True), (4, False)]]
    assert deviations(samples, ["a"], since=0.5) == 2
    assert deviations(samples, ["a"], since=1.5) == 1


def test_findings_are_shown_and_change_the_verdict_only_when_strict(tmp_path, ctk_env):
    """09 checks the hypothesis before the method only: Chaos Toolkit says held though the method broke the
    service; chaosrunner's sampling saw it, as a finding, and --strict makes it count."""
    fixture = FIXTURES / "09-strategy-before-method-rollbacks-deviated.yaml"
    lenient = run_ctk(fixture, CtkOptions(report_dir=tmp_path / "a", render_report=False, sample_interval=0.1))
    assert lenient.exit_code == 0
    found = {v.name: v for v in lenient.verdicts if v.kind == "finding"}
    assert found["sampled hypothesis"].status.value == "failed" and "detection" in found
    assert found["recovery"].status.value == "failed"                     # the service stayed down
    ctk_env.state = "up"
    strict = run_ctk(fixture, CtkOptions(report_dir=tmp_path / "b", render_report=False, sample_interval=0.1,
                                         strict=True))
    assert strict.exit_code == 1
    assert [v.status for v in strict.verdicts if v.kind != "finding"] == \
        [v.status for v in lenient.verdicts if v.kind != "finding"]      # the CTK verdict itself is the same
    record = json.loads((strict.run_dir / "run.json").read_text())
    assert any(s["probe"] == "health" and not s["ok"] for s in record["timeline"]["samples"])


def test_a_held_run_has_no_failed_finding(tmp_path, ctk_env):
    result = run_ctk(FIXTURES / "05-range-tolerance.yaml", CtkOptions(report_dir=tmp_path, render_report=False,
                                                                       sample_interval=0.1, strict=True))
    assert result.exit_code == 0
    sampled = next(v for v in result.verdicts if v.name == "sampled hypothesis")
    assert sampled.status.value == "passed" and sampled.data["samples"] > 0


@pytest.mark.slow
def test_fail_fast_and_frequency_as_in_chaos_run(env):
    fixture = FIXTURES / "08-strategy-continuously.yaml"
    args = ("--hypothesis-strategy", "during-method-only", "--hypothesis-frequency", "0.3", "--fail-fast")
    _, theirs = env.chaos(fixture, *args)
    env.service.state = "up"
    proc, mine = env.chaosrunner(fixture, *args)
    keep = ("status", "deviated", "before", "after", "rollbacks")
    assert {k: outcome(mine)[k] for k in keep} == {k: outcome(theirs)[k] for k in keep}, proc.stderr
    assert mine["steady_states"]["before"] is None and mine["steady_states"]["after"] is None  # during only
    during = mine["steady_states"]["during"]
    assert during and any(not d["steady_state_met"] for d in during)     # checked while the service was down


@pytest.mark.slow
def test_sigterm_mid_method_interrupts_with_exit_3(tmp_path, env):
    slow = write(tmp_path / "slow.yaml", "title: t\ndescription: d\nmethod:\n  - type: action\n    name: sleeping\n"
                 "    provider: {type: python, module: ctkfix.actions, func: wait, arguments: {seconds: 30}}\n"
                 "rollbacks:\n  - type: action\n    name: undo\n    provider: {type: process, path: 'true'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "chaosrunner.cli", "run", str(slow), "--report-dir",
                             str(tmp_path / "r")], env=env.vars(), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any("sleeping" in p.read_text() for p in (tmp_path / "r").glob("*/chaostoolkit.log")),
                   60, what="the method")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    [journal] = list((tmp_path / "r").glob("*/journal.json"))
    doc = json.loads(journal.read_text())
    # chaoslib's journal, as `chaos run` writes it: the signal is a failed activity, the run completed (exit 0
    # there); chaosrunner says aborted, and the rollbacks ran
    assert doc["status"] == "completed" and "SIGTERM" in "".join(doc["run"][0]["exception"])
    assert [r["status"] for r in doc["rollbacks"]] == ["succeeded"]
    record = json.loads(next((tmp_path / "r").glob("*/run.json")).read_text())
    assert record["status"] == "aborted" and "SIGTERM" in record["abort_reason"]
