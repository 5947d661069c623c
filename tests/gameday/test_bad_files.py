"""Bad game-day files are rejected before anything starts: exit 2, the file and line named, a fix,
nothing touched (no run folder, an empty ledger)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaosrunner.errors import ChaosRunnerError
from chaosrunner.gameday.read import read_gameday

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ROOT / "targets" / "demo.yaml"

GOOD = """\
kind: GameDay
name: bad-file-check
targets: {targets}
steady_state:
  - probe: {{type: http, name: health, url: /health}}
  - probe: {{type: role, name: primary, http: {{url: "${{supervisor.url}}/role", field: primary}}}}
expected:
  detection: {{within: 30s, from: break, until: {{probe: health, state: failing}}}}
phases:
  - name: break
    at: T+0
    steps:
      - id: cut
        action: {{type: network, target: region-1, operation: partition}}
      - wait_until: {{probe: primary, changed: true, timeout: 60s}}
  - name: restore
    at: T+5m
    steps:
      - revert: cut
      - manual: Confirm the dashboards are green
"""


def day(tmp_path: Path) -> Path:
    return _write(tmp_path, GOOD.format(targets=TARGETS))


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "day.yaml"
    path.write_text(body)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def bad(tmp_path: Path, old: str, new: str) -> Path:
    body = GOOD.format(targets=TARGETS)
    assert old in body, old
    return _write(tmp_path, body.replace(old, new, 1))


def test_the_good_file_reads(tmp_path):
    d = read_gameday(day(tmp_path))
    assert [p.name for p in d.model.phases] == ["break", "restore"]
    assert [f.target_name for f in d.plan.faults()] == ["api-r1", "store-primary"]
    assert d.model.phases[1].at == 300.0


MANUAL = "      - manual: Confirm the dashboards are green"

CASES = {
    # name: (replace this, with this, the line holding this, words in the message)
    "unknown step kind": ("      - manual: Confirm", "      - manaul: Confirm", "manaul:",
                          ["unknown step kind", "manual"]),
    "wait_until without timeout": ("changed: true, timeout: 60s}", "changed: true}", "wait_until",
                                   ["timeout"]),
    "undefined target": ("target: region-1", "target: region-9", "region-9", ["unknown target", "did you mean"]),
    "undefined fault id": ("revert: cut", "revert: cutt", "revert: cutt", ["unknown fault id", "cut"]),
    "undefined probe": ("{probe: primary, changed", "{probe: primray, changed", "primray",
                        ["unknown probe", "primary"]),
    "phases going backwards": ("at: T+0", "at: T+10m", "T+5m", ["before phase", "break"]),
    "expected names no phase": ("from: break,", "from: brake,", "from: brake", ["unknown phase", "break"]),
    # check steps on the writer's data and on PromQL
    "check rpo without a writer": (MANUAL, "      - check: {rpo: 1m}", "rpo: 1m", ["no writer", "add `writer:`"]),
    "check lost_writes without a writer": (MANUAL, "      - check: {lost_writes: 0}", "lost_writes: 0",
                                           ["no writer", "add `writer:`"]),
    "check promql without a server": (MANUAL, "      - check: {promql: 'up', equals: 1}", "promql:",
                                      ["needs a Prometheus server", "prometheus: http://"]),
    "check promql without a bound": (MANUAL, "      - check: {promql: 'up'}", "promql:",
                                     ["give below:, above: (or both) or equals:"]),
    "check promql equals text": (MANUAL, "      - check: {promql: 'up', equals: high}", "promql:",
                                 ["'high' is not a number", "equals: 1"]),
    "check promql empty range": (MANUAL, "      - check: {promql: 'up', above: 5, below: 1}", "promql:",
                                 ["the range is empty", "lower bound"]),
    "check bound without promql": (MANUAL, "      - check: {lost_writes: 0, below: 3}", "lost_writes",
                                   ["below: goes with promql:"]),
    "check two kinds": (MANUAL, "      - check: {probe: health, state: ok, rpo: 1m}", "rpo: 1m",
                        ["exactly one of probe, steady, rpo, lost_writes or promql", "split it"]),
    "check promql bad server URL": (MANUAL, "      - check: {promql: 'up', below: 1, prometheus: 'ftp://x'}",
                                    "promql:", ["not a Prometheus server URL", "http://127.0.0.1:9090"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_located(tmp_path, case):
    old, new, needle, words = CASES[case]
    path = bad(tmp_path, old, new)
    with pytest.raises(ChaosRunnerError) as info:
        read_gameday(path)
    text = str(info.value)
    assert f"{path}:{line_of(path, needle)}" in text, text
    for w in words:
        assert w in text, (w, text)
    assert any(fix in text for fix in ("hint", "did you mean", "add", "write e.g.")), text     # a fix


def test_nested_experiment_that_fails_validation_names_its_own_line(tmp_path):
    exp = tmp_path / "nested.yaml"
    exp.write_text(f"name: nested\ntargets: {TARGETS}\nmethod:\n  - pause: 1s\n"
                   "  - action: {type: network, target: nowhere, operation: partition}\n")
    path = bad(tmp_path, "      - manual: Confirm the dashboards are green", "      - experiment: nested.yaml")
    with pytest.raises(ChaosRunnerError) as info:
        read_gameday(path)
    assert f"{exp}:5" in str(info.value) and "unknown target 'nowhere'" in str(info.value)


def test_nested_experiment_missing_names_the_step(tmp_path):
    path = bad(tmp_path, "      - manual: Confirm the dashboards are green", "      - experiment: missing.yaml")
    with pytest.raises(ChaosRunnerError) as info:
        read_gameday(path)
    assert f"{path}:{line_of(path, 'missing.yaml')}" in str(info.value)


@pytest.mark.parametrize("case", ["unknown step kind", "undefined fault id", "phases going backwards"])
def test_cli_exits_2_and_touches_nothing(tmp_path, isolated_state, case):
    old, new, needle, _ = CASES[case]
    path = bad(tmp_path, old, new)
    reports = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "gameday", "run", str(path), "--non-interactive",
                           "--report-dir", str(reports)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TERM": "dumb"}, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:{line_of(path, needle)}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not reports.exists()
    assert not list((isolated_state / "ledger").glob("*")) if (isolated_state / "ledger").exists() else True


def test_gameday_note_without_a_running_day_exits_2(isolated_state):
    proc = subprocess.run([sys.executable, "-m", "chaosrunner.cli", "gameday", "note", "hello"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "no game day is running" in proc.stderr
