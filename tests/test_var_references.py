"""``${var:...}`` (and every reference) in typed fields: resolved before the field is read, so a fault's
duration or a load's rate can come from the command line; a bad value is reported at its line and column,
naming the reference it came from (and never showing a secret)."""
from __future__ import annotations

import json

import pytest

from support import run_cli, write

INV = """\
targets:
  web:
    url: {url}
    process: {{pidfile: {pidfile}}}
    toxiproxy: {{api: "http://127.0.0.1:9", proxy: web}}
"""

EXP = """\
name: typed-vars
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 1s}
method:
  - action: {type: process, operation: stop, target: web, duration: "${var:d}"}
  - action: {type: error, target: web, error_rate: "${var:share}", duration: 1s}
load: {http: {host: "${web.url}", paths: [/health]}, users: 1, rate: "${var:r}"}
sampling: {interval: 100ms, stable_for: 300ms}
"""


@pytest.fixture
def files(tmp_path, web):
    write(tmp_path / "inv.yaml", INV.format(url=web.url, pidfile=web.pidfile))
    return tmp_path, write(tmp_path / "exp.yaml", EXP)


def test_typed_fields_take_their_value_from_var(files):
    _, exp = files
    values = ["--var", "d=1500ms", "--var", "share=25%", "--var", "r=20/s"]
    r = run_cli("validate", str(exp), *values)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("plan", "--json", str(exp), *values)
    assert r.returncode == 0, r.stderr
    [plan] = json.loads(r.stdout)
    stop, error = plan["method"]
    assert stop["duration"] == 1.5 and stop["label"] == "process stop on web"
    assert "toxicity 0.25" in error["faults"][0]["inject"]


@pytest.mark.parametrize("var, value, words", [
    ("d", "abc", "duration: cannot read 'abc' (from ${var:d}) as a duration"),
    ("d", "-5s", "(from ${var:d})"),
    ("share", "150%", "(from ${var:share})"),
    ("r", "fast", "'fast' (from ${var:r})"),
])
def test_a_bad_value_is_reported_at_its_position_with_its_reference(files, var, value, words):
    folder, exp = files
    values = {"d": "2s", "share": "25%", "r": "20/s", var: value}
    args = [a for k, v in values.items() for a in ("--var", f"{k}={v}")]
    r = run_cli("validate", str(exp), *args)
    assert r.returncode == 2, r.stdout + r.stderr
    line = next(i for i, text in enumerate(EXP.splitlines(), 1) if "${var:%s}" % var in text)
    column = EXP.splitlines()[line - 1].index('"${var:%s}"' % var) + 1
    assert f"exp.yaml:{line}:{column}: " in r.stderr and words in r.stderr, r.stderr


def test_a_bad_secret_value_is_named_by_its_reference_only(files):
    folder, _ = files
    exp = write(folder / "secret.yaml", EXP.replace('"${var:d}"', '"${env:CR_DURATION}"'))
    r = run_cli("validate", str(exp), "--var", "share=25%", "--var", "r=20/s",
                env={"CR_DURATION": "s3cr3t-duration-value"})
    assert r.returncode == 2
    assert "cannot read '***' (from ${env:CR_DURATION}) as a duration" in r.stderr, r.stderr
    assert "s3cr3t" not in r.stderr + r.stdout


def test_a_run_holds_the_fault_for_the_duration_given_on_the_command_line(files):
    folder, _ = files
    exp = write(folder / "run.yaml", """\
name: var-duration
targets: inv.yaml
steady_state:
  - probe: {type: http, url: "${web.url}/health", timeout: 500ms}
method:
  - action: {type: process, operation: stop, target: web, duration: "${var:d}"}
sampling: {interval: 100ms, stable_for: 300ms}
""")
    r = run_cli("run", str(exp), "--var", "d=1200ms", "--report-dir", str(folder / "reports"), "--json")
    assert r.returncode in (0, 1), r.stdout + r.stderr
    [record] = [json.loads(p.read_text()) for p in (folder / "reports").glob("*/run.json")]
    events = record["timeline"]["events"]
    injected = next(e["t"] for e in events if e["kind"] == "fault_injected")
    reverted = next(e for e in events if e["kind"] == "fault_reverted")
    assert reverted["data"]["by"] == "duration" and reverted["t"] - injected == pytest.approx(1.2, abs=0.3)
